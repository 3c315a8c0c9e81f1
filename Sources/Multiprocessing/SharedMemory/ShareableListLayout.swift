/// CPython's layout of a `ShareableList` in its segment (Lib/multiprocessing/shared_memory.py
/// as in 3.11; the first versions recorded each slot's size where this has its offset),
/// native byte order, every field 8-byte aligned:
///
/// | offset | bytes | what |
/// |---|---|---|
/// | 0 | 8 | the element count N (`q`) |
/// | 8 | (N + 1) * 8 | each slot's offset from the data start, the first 0, the last the data's size (`q`) |
/// | (N + 2) * 8 | the data | each element in its slot, packed with its format |
/// | data end | N * 8 | each element's `struct` format, NUL-padded (`8s`) |
/// | formats end | N | each element's back-transform code (`b`): 0 a number or bool, 1 str, 2 bytes, 3 None |
///
/// Formats: `q` (Int), `d` (Double), `xxxxxxx?` (Bool, in the slot's last byte), `xxxxxx?x`
/// (None, all zero), `Ns` (a string's UTF-8 or the bytes, NUL-padded to N, the slot's size).
/// A slot is 8 bytes, or for a string or bytes of n bytes `8 * (n / 8 + 1)`, fixed at creation.
struct ShareableListLayout: Sendable {
    typealias Element = ShareableList.Element

    /// Each slot's offset from the data start: count + 1 of them.
    let offsets: [Int]

    /// The longest slot a format's 8 bytes can name ("9999999s"), as Python asserts.
    static let maximumSlotSize = 9_999_999

    var count: Int { offsets.count - 1 }
    var dataStart: Int { (count + 2) * 8 }
    var formatsStart: Int { dataStart + offsets[count] }
    var codesStart: Int { formatsStart + count * 8 }
    /// The segment's size: Python's `struct.calcsize` of the whole layout.
    var byteCount: Int { codesStart + count }

    func slotStart(_ index: Int) -> Int { dataStart + offsets[index] }
    func slotSize(_ index: Int) -> Int { offsets[index + 1] - offsets[index] }

    /// The layout for `elements`. Throws ``SharedMemoryError/Code/valueTooLarge`` for a string
    /// or bytes whose slot a format cannot name.
    init(for elements: [Element]) throws(SharedMemoryError) {
        var offsets = [0]
        offsets.reserveCapacity(elements.count + 1)
        for (index, element) in elements.enumerated() {
            offsets.append(offsets[index] + (try Self.slotSize(for: element, at: index)))
        }
        self.offsets = offsets
    }

    /// The slot `element` gets at creation: 8 bytes, or the string's or bytes' length rounded
    /// up past the next multiple of 8 (Python counts a str's characters; this counts its UTF-8
    /// bytes, the same for ASCII, and room for the others).
    static func slotSize(for element: Element, at index: Int) throws(SharedMemoryError) -> Int {
        guard let length = element.encodedBytes?.count else { return 8 }
        let size = 8 * (length / 8 + 1)
        guard size <= maximumSlotSize else {
            throw SharedMemoryError(.valueTooLarge, "element \(index): \(element.kindName) of \(length) bytes needs a slot of \(size) bytes; "
                                    + "a ShareableList's slot holds at most \(maximumSlotSize) (its format is 8 characters)")
        }
        return size
    }

    /// Reads and checks the layout of the segment `name`'s `bytes`. Throws
    /// ``SharedMemoryError/Code/notAShareableList`` saying what does not add up.
    init(reading bytes: UnsafeRawBufferPointer, segment name: String) throws(SharedMemoryError) {
        func refuse(_ why: String) -> SharedMemoryError {
            SharedMemoryError(.notAShareableList, "the segment \"\(name)\" (\(bytes.count) bytes) is not a ShareableList: \(why)")
        }
        guard bytes.count >= 16 else { throw refuse("it is shorter than the 16 bytes of an empty list") }
        let count = Int(bytes.loadUnaligned(as: Int64.self))
        guard count >= 0, count <= bytes.count / 8 - 2 else {
            throw refuse("its count, \(count), does not fit its size")
        }
        var offsets: [Int] = []
        offsets.reserveCapacity(count + 1)
        for index in 0...count {
            let offset = Int(bytes.loadUnaligned(fromByteOffset: 8 + index * 8, as: Int64.self))
            if index == 0, offset != 0 { throw refuse("its first offset is \(offset), not 0") }
            if index > 0, offset - offsets[index - 1] < 8 || offset > bytes.count {
                throw refuse("element \(index - 1)'s slot ends at \(offset), less than 8 bytes after it starts at \(offsets[index - 1])")
            }
            offsets.append(offset)
        }
        self.offsets = offsets
        guard byteCount <= bytes.count else {
            throw refuse("its \(count) elements need \(byteCount) bytes")
        }
    }

    /// Writes the count and the offsets (a new list's header).
    func writeHeader(into bytes: UnsafeMutableRawBufferPointer) {
        bytes.storeBytes(of: Int64(count), as: Int64.self)
        for (index, offset) in offsets.enumerated() {
            bytes.storeBytes(of: Int64(offset), toByteOffset: 8 + index * 8, as: Int64.self)
        }
    }

    /// Element `index`'s format, as stored (Python's `_get_packing_format`).
    func format(at index: Int, in bytes: UnsafeRawBufferPointer) -> String {
        let field = bytes[formatsStart + index * 8 ..< formatsStart + index * 8 + 8]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Reads element `index` of the list `name`. Throws ``SharedMemoryError/Code/unsupportedType``
    /// for a format or code Python does not write, ``SharedMemoryError/Code/notAShareableList``
    /// for a string that is not UTF-8.
    func read(_ index: Int, in bytes: UnsafeRawBufferPointer, list name: String) throws(SharedMemoryError) -> Element {
        let format = format(at: index, in: bytes)
        let code = Int8(bitPattern: bytes[codesStart + index])
        let start = slotStart(index)
        func unsupported() -> SharedMemoryError {
            SharedMemoryError(.unsupportedType, "element \(index) of the ShareableList \"\(name)\" has the format \"\(format)\" "
                              + "and code \(code); a ShareableList reads q, d, xxxxxxx?, xxxxxx?x and Ns (codes 0 to 3)")
        }
        switch (code, format) {
        case (3, _): return .nil
        case (0, "q"): return .int(Int(bytes.loadUnaligned(fromByteOffset: start, as: Int64.self)))
        case (0, "d"): return .double(bytes.loadUnaligned(fromByteOffset: start, as: Double.self))
        case (0, "xxxxxxx?"): return .bool(bytes[start + 7] != 0)
        case (1, _), (2, _):
            guard let length = Self.stringLength(format), length <= slotSize(index) else { throw unsupported() }
            // Python strips every trailing NUL (its padding, and any the value ended with).
            var end = start + length
            while end > start, bytes[end - 1] == 0 { end -= 1 }
            let stored = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if code == 2 { return .bytes(Array(stored)) }
            guard let string = String(validating: stored, as: UTF8.self) else {
                throw SharedMemoryError(.notAShareableList, "element \(index) of the ShareableList \"\(name)\" is a string that is not UTF-8")
            }
            return .string(string)
        default:
            throw unsupported()
        }
    }

    /// N of a format "Ns", or nil.
    private static func stringLength(_ format: String) -> Int? {
        guard format.hasSuffix("s"), let length = Int(format.dropLast()), length > 0 else { return nil }
        return length
    }

    /// Stores `element` as element `index` of the list `name`: its format, its code, its value
    /// (Python's `__setitem__`). Throws ``SharedMemoryError/Code/valueTooLarge`` when a string
    /// or bytes is longer than the slot.
    func write(_ element: Element, at index: Int, into bytes: UnsafeMutableRawBufferPointer, list name: String) throws(SharedMemoryError) {
        let start = slotStart(index)
        let format: String
        let code: Int8
        switch element {
        case .int(let value):
            format = "q"; code = 0
            bytes.storeBytes(of: Int64(value), toByteOffset: start, as: Int64.self)
        case .double(let value):
            format = "d"; code = 0
            bytes.storeBytes(of: value, toByteOffset: start, as: Double.self)
        case .bool(let value):
            format = "xxxxxxx?"; code = 0
            bytes.storeBytes(of: UInt64(0), toByteOffset: start, as: UInt64.self)
            bytes[start + 7] = value ? 1 : 0
        case .nil:
            format = "xxxxxx?x"; code = 3
            bytes.storeBytes(of: UInt64(0), toByteOffset: start, as: UInt64.self)
        case .string, .bytes:
            let encoded = element.encodedBytes ?? []
            let slot = slotSize(index)
            guard encoded.count <= slot else {
                throw SharedMemoryError(.valueTooLarge, "element \(index) of the ShareableList \"\(name)\" has room for \(slot) bytes, "
                                        + "not the \(encoded.count) of this \(element.kindName) (a slot keeps the size it was created with)")
            }
            guard slot <= Self.maximumSlotSize else {   // only a layout not made by Python or this type
                throw SharedMemoryError(.valueTooLarge, "element \(index) of the ShareableList \"\(name)\" has a slot of \(slot) bytes, "
                                        + "more than a format can name (\(Self.maximumSlotSize))")
            }
            format = "\(slot)s"; code = element.isString ? 1 : 2
            let target = UnsafeMutableRawBufferPointer(rebasing: bytes[start ..< start + slot])
            target.copyBytes(from: encoded)
            UnsafeMutableRawBufferPointer(rebasing: target[encoded.count...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
        let field = UnsafeMutableRawBufferPointer(rebasing: bytes[formatsStart + index * 8 ..< formatsStart + index * 8 + 8])
        field.initializeMemory(as: UInt8.self, repeating: 0)
        field.copyBytes(from: Array(format.utf8))
        bytes[codesStart + index] = UInt8(bitPattern: code)
    }
}
