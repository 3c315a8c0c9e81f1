import SwiftCompilerPlugin
import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxBuilder
import SwiftSyntaxMacros

/// `@MessagePackCodable`: an extension conforming a struct to `MessagePackDirectCodable`, with
/// the two members written from its stored properties (Sources/MessagePack/MessagePackDirectCodable.swift
/// shows the shape).
public struct MessagePackCodableMacro: ExtensionMacro {
    /// One stored property as the macro sees it.
    struct Field {
        var name: String
        /// The declared type; nil for a `let` with an initial value (written, never read).
        var type: TypeSyntax?
        var isOptional: Bool
        var isDecoded: Bool
        /// The name on the wire: the property's name without backticks.
        var key: String { name.trimmingBackticks }
        /// The local variable the decoder fills.
        var local: String { "__\(key)" }
    }

    public static func expansion(
        of node: AttributeSyntax,
        attachedTo declaration: some DeclGroupSyntax,
        providingExtensionsOf type: some TypeSyntaxProtocol,
        conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [ExtensionDeclSyntax] {
        let structDecl: StructDeclSyntax
        let fields: [Field]
        do {
            guard let decl = declaration.as(StructDeclSyntax.self) else {
                throw MacroError(node, "@MessagePackCodable applies to a struct (keep plain Codable for classes and enums)")
            }
            structDecl = decl
            fields = try storedFields(of: structDecl)
        } catch let error as MacroError {
            context.diagnose(Diagnostic(node: error.node, message: error))
            return []
        }
        let access = structDecl.modifiers.contains { ["public", "open", "package"].contains($0.name.text) }
            ? (structDecl.modifiers.contains { $0.name.text == "package" } ? "package " : "public ") : ""

        let required = fields.filter { !$0.isOptional }.count
        var countExpression = "\(required)"
        for field in fields where field.isOptional { countExpression += " + (self.\(field.name) == nil ? 0 : 1)" }

        var encode = "encoder.beginMap(count: \(countExpression))\n"
        for field in fields {
            if field.isOptional {
                encode += "if let value = self.\(field.name) { try encoder.encode(value, forKey: \(literal(field.key))) }\n"
            } else {
                encode += "try encoder.encode(self.\(field.name), forKey: \(literal(field.key)))\n"
            }
        }

        let decoded = fields.filter(\.isDecoded)
        var decode = ""
        for field in decoded {
            let wrapped = field.isOptional ? unwrapped(field.type!) : field.type!.trimmedDescription
            decode += "var \(field.local): (\(wrapped))? = nil\n"
        }
        if decoded.isEmpty {
            decode += "while try decoder.nextKey() != nil {}\n"
        } else {
            decode += "while let key = try decoder.nextKey() {\n"
            for (index, field) in decoded.enumerated() {
                let wrapped = field.isOptional ? unwrapped(field.type!) : field.type!.trimmedDescription
                let call = field.isOptional ? "decodeIfPresent" : "decode"
                decode += (index == 0 ? "if" : " else if") + " key == \(literal(field.key)) {\n\(field.local) = try decoder.\(call)((\(wrapped)).self)\n}"
            }
            decode += "\n}\n"
        }
        for field in decoded {
            if field.isOptional {
                decode += "self.\(field.name) = \(field.local)\n"
            } else {
                decode += "self.\(field.name) = try decoder.required(\(field.local), \(literal(field.key)))\n"
            }
        }

        let ext: DeclSyntax = """
            extension \(type.trimmed): MessagePackDirectCodable {
                \(raw: access)func encodeMessagePack(to encoder: inout MessagePackStructEncoder) throws {
                    \(raw: encode.trimmingTrailingNewlines)
                }
                \(raw: access)init(messagePack decoder: inout MessagePackStructDecoder) throws {
                    \(raw: decode.trimmingTrailingNewlines)
                }
            }
            """
        return [ext.cast(ExtensionDeclSyntax.self)]
    }

    /// The stored instance properties, in declaration order, or an error naming the one the
    /// macro cannot handle.
    static func storedFields(of decl: StructDeclSyntax) throws -> [Field] {
        for member in decl.memberBlock.members {
            if let nested = member.decl.as(EnumDeclSyntax.self), nested.name.text == "CodingKeys" {
                throw MacroError(nested, "@MessagePackCodable writes the properties' own names; this struct declares CodingKeys (keep plain Codable for it)")
            }
        }
        var fields: [Field] = []
        for member in decl.memberBlock.members {
            guard let variable = member.decl.as(VariableDeclSyntax.self) else { continue }
            if variable.modifiers.contains(where: { ["static", "class", "lazy"].contains($0.name.text) }) { continue }
            let isLet = variable.bindingSpecifier.text == "let"
            for binding in variable.bindings {
                if let accessors = binding.accessorBlock, isComputed(accessors) { continue }
                guard let pattern = binding.pattern.as(IdentifierPatternSyntax.self) else {
                    throw MacroError(binding, "@MessagePackCodable needs one name per property (not a tuple pattern)")
                }
                if !variable.attributes.isEmpty {
                    throw MacroError(variable, "@MessagePackCodable does not handle property wrappers or attributes on '\(pattern.identifier.text)' (keep plain Codable)")
                }
                let name = pattern.identifier.text
                let type = binding.typeAnnotation?.type ?? variable.bindings.last?.typeAnnotation?.type
                if isLet && binding.initializer != nil {
                    fields.append(Field(name: name, type: type, isOptional: type.map(isOptional) ?? false, isDecoded: false))
                    continue
                }
                guard let type else {
                    throw MacroError(binding, "@MessagePackCodable needs the type of '\(name)' written out (': Int')")
                }
                fields.append(Field(name: name, type: type, isOptional: isOptional(type), isDecoded: true))
            }
        }
        return fields
    }

    static func isComputed(_ accessors: AccessorBlockSyntax) -> Bool {
        switch accessors.accessors {
        case .getter: return true
        case .accessors(let list):
            return list.contains { ["get", "set", "_read", "_modify", "unsafeAddress", "unsafeMutableAddress"].contains($0.accessorSpecifier.text) }
        }
    }

    static func isOptional(_ type: TypeSyntax) -> Bool {
        if type.is(OptionalTypeSyntax.self) || type.is(ImplicitlyUnwrappedOptionalTypeSyntax.self) { return true }
        if let named = type.as(IdentifierTypeSyntax.self), named.name.text == "Optional", named.genericArgumentClause != nil { return true }
        return false
    }

    /// `T` of `T?`, `T!` or `Optional<T>`.
    static func unwrapped(_ type: TypeSyntax) -> String {
        if let optional = type.as(OptionalTypeSyntax.self) { return optional.wrappedType.trimmedDescription }
        if let optional = type.as(ImplicitlyUnwrappedOptionalTypeSyntax.self) { return optional.wrappedType.trimmedDescription }
        if let named = type.as(IdentifierTypeSyntax.self), let argument = named.genericArgumentClause?.arguments.first {
            return argument.argument.trimmedDescription
        }
        return type.trimmedDescription
    }

    /// A Swift string literal of `text` (a property name: letters, digits, underscores).
    static func literal(_ text: String) -> String { "\"\(text)\"" }
}

/// A macro error attached to the syntax it is about.
struct MacroError: Error, DiagnosticMessage {
    let node: Syntax
    let message: String
    var diagnosticID: MessageID { MessageID(domain: "MessagePackMacros", id: "MessagePackCodable") }
    var severity: DiagnosticSeverity { .error }

    init(_ node: some SyntaxProtocol, _ message: String) {
        self.node = Syntax(node)
        self.message = message
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var text = self
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    var trimmingBackticks: String {
        hasPrefix("`") && hasSuffix("`") && count >= 2 ? String(dropFirst().dropLast()) : self
    }
}

@main
struct MessagePackMacrosPlugin: CompilerPlugin {
    let providingMacros: [any Macro.Type] = [MessagePackCodableMacro.self]
}
