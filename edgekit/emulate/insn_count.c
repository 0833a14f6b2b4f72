/* edgekit's QEMU TCG plugin: counts the guest instructions executed between the device runner's markers.
 *
 * Plugin API version 1 (QEMU 7.x, Debian bookworm's qemu-user). It adds each translated block's instruction count
 * inline, and records the count between marker syscalls lseek(-1, MAGIC, 0) (see edgekit/device/runner.py: the call
 * fails with EBADF in the guest, costs a few instructions and is unambiguous). At exit it writes to `outfile=PATH`
 * (or stderr): the process total on the first line, then one line per marked interval.
 *
 * Debian ships no qemu-plugin.h, so the few declarations needed are written out here; edgekit compiles this file
 * with the host's C compiler (cc -shared -fPIC) and loads it with the dynamic qemu-aarch64 (-plugin).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1, uint64_t a2,
                             uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);
extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                                     uint64_t imm);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, syscall_cb_t cb);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define SYS_LSEEK_AARCH64 62
#define MARK_START 0x6564676B69740001ULL
#define MARK_STOP 0x6564676B69740002ULL
#define MAX_INTERVALS 65536

static uint64_t insns, started;
static int open_interval;
static uint64_t intervals[MAX_INTERVALS];
static size_t n_intervals;
static char outfile[4096];

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns, qemu_plugin_tb_n_insns(tb));
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    if (num != SYS_LSEEK_AARCH64 || (int32_t)a1 != -1) return;
    if (a2 == MARK_START) {
        started = insns;
        open_interval = 1;
    } else if (a2 == MARK_STOP && open_interval) {
        if (n_intervals < MAX_INTERVALS) intervals[n_intervals++] = insns - started;
        open_interval = 0;
    }
}

static void at_exit(qemu_plugin_id_t id, void *userdata) {
    FILE *f = outfile[0] ? fopen(outfile, "w") : stderr;
    if (!f) return;
    fprintf(f, "%llu\n", (unsigned long long)insns);
    for (size_t i = 0; i < n_intervals; i++) fprintf(f, "%llu\n", (unsigned long long)intervals[i]);
    if (f != stderr) fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                                int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "outfile=", 8) == 0) strncpy(outfile, argv[i] + 8, sizeof(outfile) - 1);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
