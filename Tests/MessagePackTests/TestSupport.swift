import Foundation
@testable import MessagePack

/// Hex helpers so that expected bytes read as they do in the protocol's vectors.
func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

func encode<T: Encodable>(_ value: T, options: MessagePackEncoder.Options = .init()) throws -> [UInt8] {
    try MessagePackEncoder(options: options).encode(value)
}

func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], options: MessagePackDecoder.Options = .init()) throws -> T {
    try MessagePackDecoder(options: options).decode(type, from: bytes)
}

func roundTrip<T: Codable>(_ value: T, options: (MessagePackEncoder.Options, MessagePackDecoder.Options) = (.init(), .init())) throws -> T {
    try decode(T.self, try encode(value, options: options.0), options: options.1)
}

/// The MessagePackError a throwing call ended with, whether thrown directly or as the
/// underlying error of a DecodingError.
func messagePackError(_ body: () throws -> Void) -> MessagePackError? {
    do {
        try body()
        return nil
    } catch let error as MessagePackError {
        return error
    } catch let DecodingError.dataCorrupted(context) {
        return context.underlyingError as? MessagePackError
    } catch {
        return nil
    }
}
