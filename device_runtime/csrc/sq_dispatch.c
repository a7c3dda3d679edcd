/*
 * sq_dispatch.c - which port runs the kernels: the best one this CPU supports, chosen when the
 * library loads (GCC/Clang constructor; on first use otherwise), overridable with
 * sq_port_select. On x86-64 and AArch64 one binary runs everywhere: the port files compile
 * their kernels with per-function target attributes, and only this file asks the CPU what it
 * can execute. An M core has no CPUID: the DSP port is compiled in when the build targets a
 * core with __ARM_FEATURE_DSP (Cortex-M4/M7), and then it runs.
 */
#include "sq_internal.h"

#if SQ_HAVE_AARCH64_PORTS && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* Linux arch/arm64 uapi hwcap bit of the dot product */
#endif
#endif

static const sq_port_ops sq_reference_ops = {"reference", NULL, NULL, NULL, NULL, NULL,
                                                NULL};

static const char *const sq_port_names[SQ_PORT_COUNT] = {
    "reference", "x86_avx2", "x86_avx512_vnni", "aarch64_neon", "aarch64_dotprod",
    "armv7em_dsp"};

const char *sq_port_name(int32_t port)
{
    return (port >= 0 && port < SQ_PORT_COUNT) ? sq_port_names[port] : "unknown";
}

const sq_port_ops *sq_port_ops_of(int32_t port)
{
    switch (port) {
    case SQ_PORT_REFERENCE: return &sq_reference_ops;
#if SQ_HAVE_X86_PORTS
    case SQ_PORT_X86_AVX2: return &sq_x86_avx2_ops;
    case SQ_PORT_X86_AVX512_VNNI: return &sq_x86_avx512_vnni_ops;
#endif
#if SQ_HAVE_AARCH64_PORTS
    case SQ_PORT_AARCH64_NEON: return &sq_aarch64_neon_ops;
    case SQ_PORT_AARCH64_DOTPROD: return &sq_aarch64_dotprod_ops;
#endif
#if SQ_HAVE_ARMV7EM_PORT
    case SQ_PORT_ARMV7EM_DSP: return &sq_armv7em_dsp_ops; /* compiled for a DSP core: runs */
#endif
    default: return NULL;
    }
}

/* Does this CPU run the port? NULL if so, else the reason. */
static const char *sq_port_missing(int32_t port)
{
    if (port < 0 || port >= SQ_PORT_COUNT) {
        return "unknown port id";
    }
    if (sq_port_ops_of(port) == NULL) {
#if defined(SQ_PORTABLE_ONLY)
        return "not compiled in (SQ_PORTABLE_ONLY)";
#else
        return "not compiled in for this architecture / compiler";
#endif
    }
#if SQ_HAVE_X86_PORTS
    __builtin_cpu_init();
    if (port == SQ_PORT_X86_AVX2 && !__builtin_cpu_supports("avx2")) {
        return "CPU lacks AVX2";
    }
    if (port == SQ_PORT_X86_AVX512_VNNI &&
        !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vnni"))) {
        return "CPU lacks AVX512F/AVX512BW/AVX512_VNNI";
    }
#endif
#if SQ_HAVE_AARCH64_PORTS
    /* Advanced SIMD is mandatory on AArch64; the dot product is optional (Armv8.2+). */
    if (port == SQ_PORT_AARCH64_DOTPROD) {
#if defined(__linux__)
        if ((getauxval(AT_HWCAP) & HWCAP_ASIMDDP) == 0) {
            return "CPU lacks the dot product extension (HWCAP_ASIMDDP)";
        }
#elif !defined(__ARM_FEATURE_DOTPROD)
        return "cannot detect the dot product extension on this OS";
#endif
    }
#endif
    return NULL;
}

sq_status sq_port_available(int32_t port, const char **why)
{
    const char *missing = sq_port_missing(port);
    if (why != NULL) {
        *why = missing != NULL ? missing : "available";
    }
    if (missing == NULL) {
        return SQ_OK;
    }
    return (port < 0 || port >= SQ_PORT_COUNT) ? SQ_ERR_ARG : SQ_ERR_STATE;
}

/* Preference order: the widest integer dot product first. */
static int32_t sq_port_best(void)
{
    static const int32_t order[] = {SQ_PORT_X86_AVX512_VNNI, SQ_PORT_X86_AVX2,
                                    SQ_PORT_AARCH64_DOTPROD, SQ_PORT_AARCH64_NEON,
                                    SQ_PORT_ARMV7EM_DSP};
    size_t i;
    for (i = 0; i < sizeof(order) / sizeof(order[0]); ++i) {
        if (sq_port_missing(order[i]) == NULL) {
            return order[i];
        }
    }
    return SQ_PORT_REFERENCE;
}

/* -1 until chosen. Every writer stores the same value, so a first-use race is harmless. */
static int32_t g_port = -1;

static void sq_port_init(void)
{
    g_port = sq_port_best();
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void sq_port_init_at_load(void)
{
    sq_port_init();
}
#endif

int32_t sq_port_active(void)
{
    if (g_port < 0) {
        sq_port_init();
    }
    return g_port;
}

const sq_port_ops *sq_port_ops_active(void)
{
    return sq_port_ops_of(sq_port_active());
}

sq_status sq_port_select(int32_t port)
{
    const sq_status st = sq_port_available(port, NULL);
    if (st == SQ_OK) {
        g_port = port;
    }
    return st;
}
