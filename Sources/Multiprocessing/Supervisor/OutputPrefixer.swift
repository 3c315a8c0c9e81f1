import NIOCore

/// Copies a child's standard output or error to this process's, line by line, each line
/// prefixed with the child's name (`[tally-1] listening`), so several children's output stays
/// readable; or, for ``OutputHandling/lines(_:)``, gives each line to the user's function. A
/// last line without a newline is delivered when the child closes its end.
final class OutputPrefixer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let prefix: [UInt8]
    private let target: FileDescriptor
    /// The user's function and the stream this handler reads, for `.lines`.
    private let lines: (ChildOutputLines, ChildOutputLines.Stream)?
    private var partial: [UInt8] = []

    /// `target` is 1 or 2, the stream the child's descriptor stands for.
    init(_ handling: OutputHandling, name: String, target: FileDescriptor) {
        self.prefix = Array("[\(name)] ".utf8)
        self.target = target
        if case .lines(let function) = handling {
            lines = (function, target.rawValue == 2 ? .standardError : .standardOutput)
        } else {
            lines = nil
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var out: [UInt8] = []
        buffer.withUnsafeReadableBytes { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
                out += prefix
                out += partial
                out += bytes[start...index]
                partial.removeAll(keepingCapacity: true)
                start = index + 1
            }
            partial += bytes[start...]
        }
        write(out)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            flush()
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) { flush() }

    private func flush() {
        guard !partial.isEmpty else { return }
        write(prefix + partial + [UInt8(ascii: "\n")])
        partial.removeAll()
    }

    private func write(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if let (function, stream) = lines {
            // `bytes` is whole lines, each with its prefix and newline.
            for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
                function.deliver(stream, String(decoding: line.dropFirst(prefix.count), as: UTF8.self))
            }
            return
        }
        bytes.withUnsafeBytes { _ = try? target.writeAll($0) }
    }
}
