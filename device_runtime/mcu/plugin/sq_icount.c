/*
 * sq_icount.c - a QEMU TCG plugin (API v1, QEMU 7.2) that counts the guest's executed
 * instructions exactly and logs the count at two marker addresses: the firmware's clock
 * function (board_now_us: the node reads the clock at every stage boundary) and its UART write
 * (board_write: a reply leaves). semqam_node.qemu.profile_instructions turns the log into
 * instructions per stage. Debian's qemu-system-arm loads plugins but ships no header, so the
 * few API entries used are declared here (include/qemu/qemu-plugin.h of QEMU 7.2).
 *
 *   qemu-system-arm ... -plugin sq_icount.so,clock=0x1234,write=0x5678,out=/tmp/icount.log
 *
 * Log lines: "C <count>" at a clock call, "W <count>" at a write; <count> = instructions
 * executed before the marker instruction. Every line is flushed (QEMU is killed, not exited).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t count; /* one vCPU: a plain counter */
static uint64_t clock_pc, write_pc;
static FILE *out;

static void at_marker(unsigned int vcpu, void *udata) {
    (void)vcpu;
    fprintf(out, "%c %" PRIu64 "\n", (int)(uintptr_t)udata, count);
    fflush(out);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* the marker callback runs before this instruction's own count is added */
        if (pc == clock_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, at_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                   (void *)(uintptr_t)'C');
        else if (pc == write_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, at_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                   (void *)(uintptr_t)'W');
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &count, 1);
    }
}

static void at_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    fprintf(out, "E %" PRIu64 "\n", count);
    fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv) {
    int i;
    const char *path = NULL;
    (void)info;
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "clock=", 6) == 0) clock_pc = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        else if (strncmp(argv[i], "write=", 6) == 0) write_pc = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        else if (strncmp(argv[i], "out=", 4) == 0) path = argv[i] + 4;
    }
    if (path == NULL || clock_pc == 0 || write_pc == 0) {
        fprintf(stderr, "sq_icount: pass clock=ADDR,write=ADDR,out=PATH\n");
        return -1;
    }
    out = fopen(path, "w");
    if (out == NULL) return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
