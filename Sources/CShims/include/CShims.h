#ifndef CSHIMS_H
#define CSHIMS_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver entry point. Declared weak so that an ordinary (non-fuzzer) build
/// still links; `mp_fuzzer_available()` says whether the fuzzer runtime is present.
int LLVMFuzzerRunDriver(int *argc, char ***argv,
                        int (*UserCb)(const uint8_t *Data, size_t Size)) __attribute__((weak));

/// 1 when the binary was linked with libFuzzer (`-sanitize=fuzzer`), else 0.
int mp_fuzzer_available(void);

/// Runs libFuzzer's driver with `callback`; returns -1 when libFuzzer is not linked.
int mp_fuzzer_run(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t));
#endif
