import MessagePack

// Frame streams: 4-byte big-endian length + one msgpack value, read with FrameReader.
// Python peers: Benchmarks/python/cases_frames.py.

let frameCases: [BenchmarkCase] = [
    .throughput("frames_decode_stream", unit: .framesPerSecond,
                "one buffer of 100,000 frames (4-byte length + SmallStruct map) appended to a fresh FrameReader, then next(SmallStruct.self) frame by frame until empty; one op = one frame") {
        let count = 100_000
        var writer = FrameWriter()
        for index in 0..<count { try writer.append(SmallStruct.streamItem(index)) }
        let stream = writer.take()
        let decoder = MessagePackDecoder()
        // Check once, untimed, that every frame decodes to what was written.
        var check = FrameReader()
        check.append(stream)
        var index = 0
        while let item = try check.next(SmallStruct.self, decoder: decoder) {
            guard item == SmallStruct.streamItem(index) else { throw BenchmarkFailure("frame \(index) decoded wrong") }
            index += 1
        }
        guard index == count else { throw BenchmarkFailure("decoded \(index) of \(count) frames") }
        return Workload(operationsPerIteration: count,
                        info: ["stream_bytes": String(stream.count), "stream_crc32": String(crc32(stream))]) {
            var reader = FrameReader()
            reader.append(stream)
            var sum = 0
            while let item = try reader.next(SmallStruct.self, decoder: decoder) {
                sum &+= item.id
            }
            return sum
        }
    },
]
