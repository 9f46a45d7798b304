/*
 * berth-dmz: the last hop before a container's program.
 *
 * The runtime runs this tiny static program from a sealed memfd, and this program execs the
 * user's program. So when the kernel resolves /proc/self/exe during that final execve (the
 * "#!/proc/self/exe" trick of CVE-2019-5736), it finds this sealed copy, never the runtime's
 * binary on disk. No libc: the whole program is a raw execve and exit.
 *
 * argv: [ "berth-dmz", PATH, ARGV0, ARGV1, ... ], environment passed through.
 */

#if defined(__x86_64__)
__asm__(".text\n.globl _start\n_start:\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call dmz_main\n  hlt\n");

static long sys3(long n, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}
#define SYS_WRITE 1
#define SYS_EXECVE 59
#define SYS_EXIT 60
#elif defined(__aarch64__)
__asm__(".text\n.globl _start\n_start:\n  mov x0, sp\n  bl dmz_main\n  brk #0\n");

static long sys3(long n, long a, long b, long c)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#define SYS_WRITE 64
#define SYS_EXECVE 221
#define SYS_EXIT 93
#else
#error "berth-dmz supports x86_64 and aarch64"
#endif

static const char message[] = "berth-dmz: execve of the container's program failed\n";

__attribute__((used)) void dmz_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    long ret = -22;
    if (argc >= 3)
        ret = sys3(SYS_EXECVE, (long)argv[1], (long)(argv + 2), (long)envp);
    sys3(SYS_WRITE, 2, (long)message, sizeof(message) - 1);
    /* ENOENT → 127 like a shell's "not found", anything else → 126 */
    sys3(SYS_EXIT, ret == -2 ? 127 : 126, 0, 0);
    for (;;)
        ;
}
