// Linux system calls the agent needs and Swift's Glibc module does not offer: pidfds (act on a process,
// not on a PID that may be reused), statx's mount ID (tell a bind mount from its file system) and the
// credentials of a Unix socket's peer (SO_PEERCRED's struct ucred needs _GNU_SOURCE).
#ifndef CKONTORLINUX_H
#define CKONTORLINUX_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

/// A file descriptor for the process `pid` (close it when done), or -1 with errno (ESRCH: gone;
/// ENOSYS: a kernel before 5.3).
static inline int kontor_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/// Sends `sig` to the process behind `pidfd`: never to another process that reused its PID.
static inline int kontor_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/// The mount ID of `name` relative to the directory `dirfd` (without following a final symlink), and
/// whether it is the root of a mount. Returns 0, or -1 with errno; `*has_mount_id` is 0 on kernels
/// before 5.8, which do not report it.
static inline int kontor_statx_mount(int dirfd, const char *name, uint64_t *mount_id, int *has_mount_id, int *is_mount_root) {
    struct statx sx;
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] == '\0' ? AT_EMPTY_PATH : 0);
    if (statx(dirfd, name, flags, STATX_MNT_ID, &sx) != 0) return -1;
    *has_mount_id = (sx.stx_mask & STATX_MNT_ID) != 0;
    *mount_id = sx.stx_mnt_id;
    *is_mount_root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
    return 0;
}

/// The file system type (statfs f_type) of the open file `fd`, or 0 when it cannot be read.
static inline int64_t kontor_fs_type(int fd) {
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0) return 0;
    return (int64_t)sf.f_type;
}

/// The user, group and process of the peer of the connected Unix socket `fd`, as the kernel recorded them
/// when it connected (SO_PEERCRED): the caller cannot forge them. Returns 0, or -1 with errno. In shim.c:
/// <sys/socket.h> in this header would clash with the socket types other modules (NIO) define.
int kontor_peer_credentials(int fd, uint32_t *uid, uint32_t *gid, int32_t *pid);

/// accept4(fd, NULL, NULL, SOCK_CLOEXEC): the connection is never inherited by a program the agent runs.
int kontor_accept_cloexec(int fd);

// fscrypt (the kernel's per-directory encryption, v2 policies; in shim.c: <linux/fscrypt.h>). Each returns 0,
// or -1 with errno.

/// Adds the 64-byte key `raw` to the file system of `fd`; the kernel's identifier of it goes to `identifier`.
int kontor_fscrypt_add_key(int fd, const uint8_t *raw, uint32_t raw_size, uint8_t identifier[16]);
/// Removes this user's claim to the key `identifier` from the file system of `fd` (its files become
/// unreadable once no file is open); `status` gets FSCRYPT_KEY_REMOVAL_STATUS_FLAG_* (1: files busy, 2: other users).
int kontor_fscrypt_remove_key(int fd, const uint8_t identifier[16], uint32_t *status);
/// Sets an AES-256-XTS / AES-256-CTS v2 policy with `identifier` on the empty directory `fd`.
int kontor_fscrypt_set_policy(int fd, const uint8_t identifier[16]);
/// The v2 policy's key identifier of `fd`; -1 with ENODATA when it is not encrypted, EOPNOTSUPP when its file
/// system cannot encrypt (ext4 without the encrypt feature), ENOTTY when the kernel or file system knows nothing of it.
int kontor_fscrypt_policy(int fd, uint8_t identifier[16], int *version);
/// Whether the key `identifier` is in the file system of `fd`: `status` 1 absent, 2 present, 3 incompletely removed.
int kontor_fscrypt_key_status(int fd, const uint8_t identifier[16], uint32_t *status);

// The server: the bytes malloc holds free in its arenas, and giving the free pages back to the system
// (after a burst of reconnections the heap stays at its high-water mark otherwise).
static inline size_t kontor_malloc_free_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    return info.fordblks;
#else
    return 0;
#endif
}

static inline int kontor_malloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

#endif
