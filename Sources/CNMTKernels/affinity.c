// The CPU affinity mask, which Swift's Glibc module does not expose (it needs _GNU_SOURCE).
#define _GNU_SOURCE
#include <sched.h>

#include "CNMTKernels.h"

int nmt_affinity_cpu_count(void) {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}
