#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Multiprocessing

extension SystemTests {
    /// Pipes, polling and descriptor flags.
    @Suite struct Descriptors {
        @Test func pipeReadWriteAndEndOfFile() throws {
            let pipe = try FileDescriptor.pipe()
            defer { try? pipe.readEnd.close() }
            #expect(try pipe.readEnd.isCloseOnExec())
            #expect(try pipe.writeEnd.isCloseOnExec())
            try pipe.writeEnd.writeAll(Array("hello, world".utf8))
            var buffer = [UInt8](repeating: 0, count: 5)
            #expect(try buffer.withUnsafeMutableBytes { try pipe.readEnd.readExactly(into: $0) })
            #expect(buffer == Array("hello".utf8))
            try pipe.writeEnd.close()
            // 7 bytes left, 8 asked: end of file in the middle.
            var eight = [UInt8](repeating: 0, count: 8)
            let error = try #require(throws: SystemError.self) {
                try eight.withUnsafeMutableBytes { try pipe.readEnd.readExactly(into: $0) }
            }
            #expect(error.code == .endOfFile)
            #expect(error.detail == "read 7 of 8 bytes")
            // Now at end of file: a clean end is `false`, a plain read is 0 bytes.
            #expect(try eight.withUnsafeMutableBytes { try pipe.readEnd.readExactly(into: $0) } == false)
            #expect(try pipe.readEnd.read(upToCount: 10) == [])
        }

        /// More than a pipe holds, through a child (`cat`) and back: partial writes and reads.
        @Test func largeTransferThroughAChild() async throws {
            let toChild = try FileDescriptor.pipe()
            let fromChild = try FileDescriptor.pipe()
            let options = SpawnOptions(standardInput: .descriptor(toChild.readEnd),
                                       standardOutput: .descriptor(fromChild.writeEnd))
            let pid = try Spawner.spawn("/bin/cat", options)
            try toChild.readEnd.close()
            try fromChild.writeEnd.close()
            let process = try PidFD.open(pid: pid)
            defer { try? process.close() }
            let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let writer = Task.detached { [writeEnd = toChild.writeEnd] in
                defer { try? writeEnd.close() }
                try writeEnd.writeAll(payload)
            }
            let received = try fromChild.readEnd.readToEnd()
            try fromChild.readEnd.close()
            try await writer.value
            #expect(received == payload)
            #expect(try process.waitForExit() == .exited(0))
        }

        @Test func pollTimesOutThenSeesData() throws {
            let pipe = try FileDescriptor.pipe()
            defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
            let clock = ContinuousClock()
            let start = clock.now
            #expect(try pipe.readEnd.waitUntilReadable(timeout: .milliseconds(50)) == false)
            #expect(start.duration(to: clock.now) >= .milliseconds(50))
            #expect(try pipe.readEnd.waitUntilReadable(timeout: .zero) == false)
            try pipe.writeEnd.writeAll([1])
            #expect(try pipe.readEnd.waitUntilReadable(timeout: .seconds(5)))
            let other = try FileDescriptor.pipe()
            defer { try? other.readEnd.close(); try? other.writeEnd.close() }
            let events = try FileDescriptor.poll([other.readEnd, pipe.readEnd], timeout: nil)
            #expect(events == [[], .readable])
            try other.writeEnd.close()
            #expect(try FileDescriptor.poll([other.readEnd], timeout: .zero)[0].contains(.hangUp))
        }

        @Test func duplicateAndFlags() throws {
            let pipe = try FileDescriptor.pipe()
            defer { try? pipe.readEnd.close(); try? pipe.writeEnd.close() }
            let copy = try pipe.readEnd.duplicate(atLeast: 50)
            defer { try? copy.close() }
            #expect(copy.rawValue >= 50)
            #expect(try copy.isCloseOnExec())
            #expect(try copy.target() == (try pipe.readEnd.target()))
            #expect(try copy.target().hasPrefix("pipe:["))
            try copy.setCloseOnExec(false)
            #expect(try copy.isCloseOnExec() == false)
            try copy.setCloseOnExec(true)
            #expect(try copy.isCloseOnExec())

            #expect(try pipe.readEnd.isNonBlocking() == false)
            try pipe.readEnd.setNonBlocking(true)
            #expect(try copy.isNonBlocking(), "the flag belongs to the shared open file description")
            var byte: UInt8 = 0
            let result = withUnsafeMutableBytes(of: &byte) { pipe.readEnd._read(into: $0) }
            if case .failure(let error) = result { #expect(error == .wouldBlock) } else { Issue.record("read did not fail") }
            try pipe.readEnd.setNonBlocking(false)
        }

        @Test func openDescriptorsTracksOpenAndClose() throws {
            let pipe = try FileDescriptor.pipe()
            let open = try FileDescriptor.openDescriptors()
            #expect(open.contains(pipe.readEnd.rawValue))
            #expect(open.contains(pipe.writeEnd.rawValue))
            try pipe.readEnd.close()
            try pipe.writeEnd.close()
            let after = try FileDescriptor.openDescriptors()
            #expect(!after.contains(pipe.readEnd.rawValue))
            #expect(!after.contains(pipe.writeEnd.rawValue))
        }
    }

    /// memfd, mmap, and named shared memory objects.
    @Suite struct Memory {
        @Test func memfdMappedTwiceIsShared() throws {
            let fd = try FileDescriptor.memoryFile(name: "mp-test")
            defer { try? fd.close() }
            #expect(try fd.isCloseOnExec())
            #expect(try fd.target().hasPrefix("/memfd:mp-test"))
            let size = 1 << 20
            try fd.truncate(toSize: size)
            #expect(try fd.fileSize() == size)
            let first = try MappedRegion(mapping: fd, size: size)
            let second = try MappedRegion(mapping: fd, size: size)
            #expect(first.baseAddress != second.baseAddress)
            first.bytes.storeBytes(of: 0x1234_5678_9abc_def0 as UInt64, toByteOffset: 4096, as: UInt64.self)
            #expect(second.bytes.load(fromByteOffset: 4096, as: UInt64.self) == 0x1234_5678_9abc_def0)
            #expect(second.bytes[size - 1] == 0, "zero-filled")
        }

        @Test func mappingOutlivesItsDescriptor() throws {
            let fd = try FileDescriptor.memoryFile(name: "mp-test")
            try fd.truncate(toSize: MappedRegion.pageSize)
            let region = try MappedRegion(mapping: fd, size: MappedRegion.pageSize)
            try fd.close()
            region.bytes[0] = 42
            #expect(region.bytes[0] == 42)
            #expect(throws: SystemError.self) { try MappedRegion(mapping: fd, size: 0) }
            #expect(throws: SystemError.self) { try MappedRegion(mapping: fd, size: 4096) }   // closed: EBADF
        }

        /// A child given the memfd at fd 3 reads what the parent wrote and writes back.
        @Test func memfdSharedWithAChild() throws {
            let fd = try FileDescriptor.memoryFile(name: "mp-arena-test")
            defer { try? fd.close() }
            try fd.truncate(toSize: 4096)
            let region = try MappedRegion(mapping: fd, size: 4096)
            _ = "parent".utf8.withContiguousStorageIfAvailable { region.bytes.copyMemory(from: UnsafeRawBufferPointer($0)) }

            let out = try FileDescriptor.pipe()
            let reader = try Spawner.spawn("/usr/bin/head", SpawnOptions(
                arguments: ["-c", "6", "/proc/self/fd/3"], descriptors: [fd],
                standardInput: .nullDevice, standardOutput: .descriptor(out.writeEnd)))
            try out.writeEnd.close()
            let readerProcess = try PidFD.open(pid: reader)
            defer { try? readerProcess.close() }
            let seen = try out.readEnd.readToEnd()
            try out.readEnd.close()
            #expect(try readerProcess.waitForExit() == .exited(0))
            #expect(String(decoding: seen, as: UTF8.self) == "parent")

            let writer = try PidFD.open(pid: try Spawner.spawn("/bin/sh", SpawnOptions(
                arguments: ["-c", "printf child >&3"], descriptors: [fd], standardInput: .nullDevice)))
            defer { try? writer.close() }
            #expect(try writer.waitForExit() == .exited(0))
            #expect(String(decoding: region.bytes[0..<6], as: UTF8.self) == "childt")
        }

        @Test func namedSegmentLeavesNothingInDevShm() throws {
            let name = "/mp-systemtests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let path = "/dev/shm" + name
            let created = try FileDescriptor.openSharedMemory(name: name, create: true, exclusive: true)
            #expect(access(path, F_OK) == 0)
            try created.truncate(toSize: 8192)
            let writer = try MappedRegion(mapping: created, size: 8192)
            try created.close()
            writer.bytes.storeBytes(of: 77, toByteOffset: 8000, as: Int64.self)

            let again = try #require(throws: SystemError.self) {
                try FileDescriptor.openSharedMemory(name: name, create: true, exclusive: true)
            }
            #expect(again.underlyingError == .fileExists)
            #expect(again.subject == .name(name))

            let attached = try FileDescriptor.openSharedMemory(name: name)
            #expect(try attached.fileSize() == 8192)
            let reader = try MappedRegion(mapping: attached, size: 8192)
            try attached.close()
            #expect(reader.bytes.load(fromByteOffset: 8000, as: Int64.self) == 77)

            try FileDescriptor.unlinkSharedMemory(name: name)
            #expect(access(path, F_OK) != 0)
            #expect(reader.bytes.load(fromByteOffset: 8000, as: Int64.self) == 77, "mappings outlive the name")
            let gone = try #require(throws: SystemError.self) { try FileDescriptor.openSharedMemory(name: name) }
            #expect(gone.underlyingError == .noSuchFileOrDirectory)
            #expect(throws: SystemError.self) { try FileDescriptor.unlinkSharedMemory(name: name) }
        }

        @Test func anonymousSharedRegion() throws {
            let region = try MappedRegion(anonymousSize: 3 * MappedRegion.pageSize)
            #expect(region.count == 3 * MappedRegion.pageSize)
            #expect(Int(bitPattern: region.baseAddress) % MappedRegion.pageSize == 0)
            region.bytes[region.count - 1] = 9
            #expect(region.bytes[region.count - 1] == 9)
        }
    }
}
