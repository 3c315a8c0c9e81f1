/// libFuzzer's entry point: every check on one input. A mismatch stops the process through
/// `fail` with the input's hex; libFuzzer then saves the input as `crash-*`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    currentInput = input
    checkInput(input)
    return 0
}

/// (1) the value readers against msgpack-c, (2) the frame reader in chunks, (3) typed decoding,
/// (4) the header-level reader.
func checkInput(_ input: UnsafeRawBufferPointer) {
    let model = Model(input)
    let value = checkValueReaders(input, model: model)
    checkFrames(input, value: value)
    checkCodable(input, model: model, value: value)
    checkHeaderReader(input, value: value)
}
