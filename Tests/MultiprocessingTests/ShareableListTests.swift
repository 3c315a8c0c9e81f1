import Foundation
import MPTestEntries
import Testing
@testable import Multiprocessing

/// ShareableList (Python's shared_memory.ShareableList): every kind of element, set and get,
/// its errors, a child that writes, and byte compatibility with CPython in both directions.
@Suite(.serialized) struct ShareableListTests {
    init() { TestWorker.use() }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: "/dev/shm/\(name)") }

    /// One of each kind, a string of exactly 8 bytes (slot 16) and a non-ASCII one.
    static let sample: [ShareableList.Element] = [42, -7, 2.5, true, false, "hello", "", .bytes([1, 2, 3]), nil, "exactly8", "héllo"]
    static let sampleFormat = "qqdxxxxxxx?xxxxxxx?8s8s8sxxxxxx?x16s8s"

    @Test func everyKindReadsBackAsWritten() throws {
        let list = try ShareableList(Self.sample)
        defer { list.close(); try? list.unlink() }
        #expect(list.count == 11)
        #expect(try list.elements() == Self.sample)
        #expect(try list[2] == .double(2.5))
        #expect(try list.get(7) == .bytes([1, 2, 3]))
        #expect(try list.format == Self.sampleFormat)
        #expect(list.segment.size == 8 * 13 + 8 * 10 + 16 + 8 * 11 + 11, "header, data, formats, codes: Python's calcsize")
        #expect(try list.count(of: true) == 1)
        #expect(try list.count(of: .int(1)) == 0, "exact equality: true is not 1")
        #expect(try list.index(of: "hello") == 5)
        #expect(try list.index(of: "absent") == nil)
        #expect(list.description == "ShareableList([42, -7, 2.5, True, False, 'hello', '', b'\\x01\\x02\\x03', None, 'exactly8', 'héllo'], name='\(list.name)')")
    }

    @Test func anElementTakesAnyKindThatFitsItsSlot() throws {
        let list = try ShareableList([1, "a string of 17 ch"])
        defer { list.close(); try? list.unlink() }
        try list.set(0, to: "12345678")                  // 8 bytes: the slot of a number
        #expect(try list[0] == "12345678")
        try list.set(0, to: nil)
        #expect(try list[0] == nil)
        try list.set(1, to: 3.5)
        try list.set(0, to: .bytes([9, 0, 0]))
        #expect(try list.format == "8sd")
        #expect(try list[0] == .bytes([9]), "Python strips trailing NULs, and so does the reader")
        try list.set(1, to: .string(String(repeating: "z", count: 24)))   // the slot is 24 bytes
        #expect(try list.format == "8s24s")
        #expect(try list[1] == .string(String(repeating: "z", count: 24)))
    }

    @Test func badInputIsRefusedWithTypedErrors() throws {
        let list = try ShareableList(["short", 1])
        defer { list.close(); try? list.unlink() }

        let tooLong = #expect(throws: SharedMemoryError.self) { try list.set(0, to: "a string of 20 bytes") }
        #expect(tooLong?.code == .valueTooLarge)
        #expect(tooLong?.message.contains("element 0") == true && tooLong?.message.contains("room for 8 bytes") == true
                && tooLong?.message.contains("20") == true, "\(String(describing: tooLong))")
        #expect(try list[0] == "short", "a refused set writes nothing")

        for index in [2, -1] {
            let outside = #expect(throws: SharedMemoryError.self) { try list.get(index) }
            #expect(outside?.code == .indexOutOfRange)
            #expect(outside?.message.contains("index \(index)") == true && outside?.message.contains("has 2 elements") == true)
            #expect((#expect(throws: SharedMemoryError.self) { try list.set(index, to: 0) })?.code == .indexOutOfRange)
        }

        let missing = #expect(throws: SharedMemoryError.self) { try ShareableList(attaching: "mp_no_list_\(getpid())") }
        #expect(missing?.code == .segmentNotFound)
        #expect(missing?.message.contains("mp_no_list_\(getpid())") == true)

        let date = #expect(throws: SharedMemoryError.self) { try ShareableList.Element(converting: Date()) }
        #expect(date?.code == .unsupportedType)
        #expect(date?.message.contains("Date") == true)
        #expect((#expect(throws: SharedMemoryError.self) { try ShareableList.Element(converting: [1, 2]) })?.code == .unsupportedType)
        #expect((#expect(throws: SharedMemoryError.self) { try ShareableList.Element(converting: UInt64.max) })?.code == .valueTooLarge)
        #expect(try ShareableList.Element(converting: Int8(-3)) == -3)
        #expect(try ShareableList.Element(converting: Float(0.5)) == 0.5)
        #expect(try ShareableList.Element(converting: Int?.none as Any) == nil)
        #expect(try ShareableList.Element(converting: Data([4])) == .bytes([4]))

        let view = try ShareableList(attaching: list.name)
        view.close()
        #expect((#expect(throws: SharedMemoryError.self) { try view.get(0) })?.code == .closed)
    }

    @Test func aSegmentThatIsNotAListIsRefused() throws {
        let segment = try SharedMemory(size: 64)
        defer { segment.close(); try? segment.unlink() }
        segment.buffer.storeBytes(of: Int64(1000), as: Int64.self)
        let notAList = #expect(throws: SharedMemoryError.self) { try ShareableList(attaching: segment.name) }
        #expect(notAList?.code == .notAShareableList)
        #expect(notAList?.message.contains(segment.name) == true && notAList?.message.contains("1000") == true)

        // A format Python does not write: element 0's format field says "f".
        let list = try ShareableList([1.5])
        defer { list.close(); try? list.unlink() }
        list.segment.buffer.storeBytes(of: UInt8(ascii: "f"), toByteOffset: 8 * 3 + 8, as: UInt8.self)
        let format = #expect(throws: SharedMemoryError.self) { try list.get(0) }
        #expect(format?.code == .unsupportedType)
        #expect(format?.message.contains("element 0") == true && format?.message.contains("\"f\"") == true)
    }

    @Test func aChildAttachesAndWrites() async throws {
        let list = try ShareableList(["parent", 0, 2.5])
        defer { list.close(); try? list.unlink() }
        let seen = try await ChildProcess.run(SharedMemoryEntries.writeShareableList, list)
        #expect(seen == ["'child'", "3", "2.5"])
        #expect(try list.elements() == ["child", 3, 2.5])
    }

    @Test func listsAreUnlinkedAndLeaveNothingInDevShm() throws {
        let list = try ShareableList([1, 2, 3])
        #expect(exists(list.name))
        #expect(try ArenaTestHooks.trackedSegmentNames().contains(list.name))
        list.close()
        try list.unlink()
        #expect(!exists(list.name))
        #expect(try !ArenaTestHooks.trackedSegmentNames().contains(list.name))
        let empty = try ShareableList([])
        defer { empty.close(); try? empty.unlink() }
        #expect(empty.count == 0 && empty.segment.size == 16)
        #expect(try empty.elements().isEmpty && empty.format.isEmpty)
    }
}

/// The same lists through CPython's own `ShareableList` (python3 on this machine).
@Suite(.serialized, .enabled(if: CPython.unavailableReason == nil, Comment(rawValue: CPython.unavailableReason ?? "")))
struct ShareableListPythonTests {
    init() { TestWorker.use() }

    @Test func swiftAndPythonLayTheSameBytes() throws {
        let list = try ShareableList(ShareableListTests.sample)
        defer { list.close(); try? list.unlink() }
        // Python makes the same list (from its repr, which the elements' descriptions are),
        // prints its bytes and unlinks it.
        let literal = "[" + ShareableListTests.sample.map(\.description).joined(separator: ", ") + "]"
        let pythonHex = try CPython.run("""
            values = ast.literal_eval(sys.argv[1])
            sl = shared_memory.ShareableList(values)
            print(bytes(sl.shm.buf).hex())
            sl.shm.close(); sl.shm.unlink()
            """, literal)
        let swiftHex = list.segment.buffer.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(swiftHex + "\n" == pythonHex)
    }

    /// An element's description is Python's repr, quotes and escapes included.
    @Test func descriptionsArePythonsRepr() throws {
        let elements: [ShareableList.Element] = ["it's", "say \"hi\"", "both ' and \"", "tab\tline\n\\", .bytes([0, 0x27, 0x5c, 0x41, 0xff]), 1e-05, 1e+16, -0.0]
        let literal = "[" + elements.map(\.description).joined(separator: ", ") + "]"
        #expect(try CPython.run("print(repr(ast.literal_eval(sys.argv[1])))", literal) == literal + "\n")
    }

    @Test func pythonAttachesAListMadeHereAndWritesIt() throws {
        let list = try ShareableList(ShareableListTests.sample)
        defer { list.close(); try? list.unlink() }
        let output = try CPython.run("""
            sl = shared_memory.ShareableList(name=sys.argv[1])
            print(repr(list(sl)))
            print(sl.format)
            sl[0] = 99; sl[5] = 'world'; sl[8] = 1.25; sl[3] = None; sl[7] = b'\\xff\\x00\\x01'
            try:
                sl[6] = 'x' * 9
            except ValueError as error:
                print(error)
            sl.shm.close()
            """, list.name)
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == "[" + ShareableListTests.sample.map(\.description).joined(separator: ", ") + "]")
        #expect(lines.dropFirst().first == ShareableListTests.sampleFormat)
        #expect(lines.last == "bytes/str item exceeds available storage")
        var expected = ShareableListTests.sample
        expected[0] = 99; expected[5] = "world"; expected[8] = 1.25; expected[3] = nil; expected[7] = .bytes([0xff, 0, 1])
        #expect(try list.elements() == expected)
    }

    @Test func aListMadeByPythonIsAttachedHere() throws {
        let name = "mp_test_\(getpid())_python_list"
        defer { _ = unlink("/dev/shm/" + name) }    // whatever happens below
        _ = try CPython.run("""
            sl = shared_memory.ShareableList([7, 0.25, False, 'from python', b'\\x00\\x7f', None], name=sys.argv[1])
            sl.shm.close()
            """, name)
        let list = try ShareableList(attaching: name)
        defer { list.close(); try? list.unlink() }
        #expect(try list.elements() == [7, 0.25, false, "from python", .bytes([0, 0x7f]), nil])
        #expect(try list.format == "qdxxxxxxx?16s8sxxxxxx?x")
        try list.set(3, to: "from swift")
        let back = try CPython.run("""
            sl = shared_memory.ShareableList(name=sys.argv[1])
            print(sl[3]); sl.shm.close()
            """, name)
        #expect(back == "from swift\n")
    }
}

/// python3 with `multiprocessing.shared_memory` (3.8 or later), run with its resource tracker
/// switched off: the segments belong to the tests, which unlink them.
enum CPython {
    static let prelude = """
        import ast, sys
        from multiprocessing import resource_tracker, shared_memory
        resource_tracker.register = resource_tracker.unregister = lambda *arguments: None

        """

    /// Why the Python tests cannot run, or nil.
    static let unavailableReason: String? = {
        guard let output = try? run("import inspect; print('_allocated_offsets' in inspect.getsource(shared_memory.ShareableList))") else {
            return "python3 with multiprocessing.shared_memory (3.8 or later) is not on PATH"
        }
        return output == "True\n" ? nil : "this python3's ShareableList records slot sizes, not the offsets of later versions"
    }()

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `script` (after the prelude) with `arguments` as `sys.argv[1...]`; answers its
    /// standard output. Throws when it exits with another status than 0, with its error output.
    static func run(_ script: String, _ arguments: String...) throws -> String {
        let python = Foundation.Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", prelude + script] + arguments
        let output = Pipe(), errors = Pipe()
        python.standardOutput = output
        python.standardError = errors
        try python.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        let complaints = errors.fileHandleForReading.readDataToEndOfFile()
        python.waitUntilExit()
        guard python.terminationStatus == 0 else {
            throw Failure(description: "python3 exited with \(python.terminationStatus): \(String(decoding: complaints, as: UTF8.self))")
        }
        return String(decoding: printed, as: UTF8.self)
    }
}
