#include "CShims.h"

int mp_fuzzer_available(void) { return LLVMFuzzerRunDriver != 0; }

int mp_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t)) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
