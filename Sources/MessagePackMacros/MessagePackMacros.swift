@_exported import MessagePack

/// Makes a `Codable` struct ``MessagePack/MessagePackDirectCodable``: the macro writes
/// `encodeMessagePack(to:)` and `init(messagePack:)` from its stored properties, so
/// `MessagePackEncoder` and `MessagePackDecoder` write and read it field by field, with the
/// bytes and errors of the `Codable` path and about half its cost.
///
/// Each stored property is a field named as the property (an optional one left out when nil);
/// a `let` with an initial value is written and not read, as `Codable` does. A struct with its
/// own `CodingKeys`, a property without a type annotation or a property wrapper is refused at
/// compile time with the reason (keep plain `Codable` for those).
///
/// ```swift
/// import Multiprocessing
/// import MessagePackMacros
///
/// @MessagePackCodable
/// struct Job: Codable, Sendable {
///     var id: Int
///     var path: String
///     var retries: Int?
/// }
/// let queue = try Queue<Job>()      // puts and gets now skip Codable's containers
/// ```
@attached(extension, conformances: MessagePackDirectCodable, names: named(encodeMessagePack), named(init(messagePack:)))
public macro MessagePackCodable() = #externalMacro(module: "MessagePackMacrosPlugin", type: "MessagePackCodableMacro")
