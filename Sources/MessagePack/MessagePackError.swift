/// An error from reading or writing MessagePack bytes or frames.
///
/// A struct with an extensible ``Code`` (as `SubprocessError` in swift-subprocess), so new codes
/// do not break callers that switch over the known ones. ``offset`` is the byte offset in the
/// input where the problem was found; for frames it counts from the start of the stream.
///
/// ```swift
/// do { _ = try MessagePackValue(unpacking: [0xd9]) }
/// catch let error as MessagePackError where error.code == .truncated {
///     print(error)   // "truncated: str8 length needs 1 byte, input ends at byte offset 1"
/// }
/// ```
public struct MessagePackError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code, as used by the protocol's test vectors.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The input ended inside a value or inside a frame.
        public static let truncated = Code("truncated")
        /// A declared string, binary, extension, array or map size is larger than the bytes present.
        public static let lengthExceedsInput = Code("lengthExceedsInput")
        /// The reserved byte 0xc1, which no MessagePack value starts with.
        public static let reservedByte = Code("reservedByte")
        /// A string that is not valid UTF-8.
        public static let invalidUTF8 = Code("invalidUTF8")
        /// Arrays and maps nested deeper than the limit.
        public static let depthExceeded = Code("depthExceeded")
        /// Bytes left over after a complete value where exactly one value was expected.
        public static let trailingBytes = Code("trailingBytes")
        /// A frame whose declared length is above the configured maximum.
        public static let frameTooLarge = Code("frameTooLarge")
        /// A timestamp extension whose body is not 4, 8 or 12 bytes, or whose nanoseconds are out of range.
        public static let invalidTimestamp = Code("invalidTimestamp")
        /// ``MessagePackReader``: the next value is not of the type asked for.
        public static let typeMismatch = Code("typeMismatch")
        /// ``MessagePackReader``: an integer that does not fit the type asked for.
        public static let integerOverflow = Code("integerOverflow")
        /// msgpack-c reported an error the Swift guards did not predict (should not happen).
        public static let referenceDecoderFailed = Code("referenceDecoderFailed")
    }

    /// What kind of problem it is.
    public var code: Code
    /// The byte offset where it was found.
    public var offset: Int
    /// A sentence naming what was wrong.
    public var message: String
    /// For ``Code/frameTooLarge`` from a ``FrameWriter``: the size in bytes of the frame body
    /// it refused, so a caller can name it in its own error; nil otherwise.
    public var size: Int?

    public init(_ code: Code, at offset: Int, _ message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(code): \(message) at byte offset \(offset)" }
}
