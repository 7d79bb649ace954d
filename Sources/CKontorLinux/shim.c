// CKontorLinux is mostly header-only (static inline wrappers); what needs headers that would clash in the
// module (sys/socket.h) is here.
#include "CKontorLinux.h"

#include <linux/fscrypt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int kontor_peer_credentials(int fd, uint32_t *uid, uint32_t *gid, int32_t *pid) {
    struct ucred cred;
    socklen_t length = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return -1;
    if (length != sizeof(cred)) {
        errno = EINVAL;
        return -1;
    }
    *uid = cred.uid;
    *gid = cred.gid;
    *pid = cred.pid;
    return 0;
}

int kontor_accept_cloexec(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

int kontor_fscrypt_add_key(int fd, const uint8_t *raw, uint32_t raw_size, uint8_t identifier[16]) {
    if (raw_size > FSCRYPT_MAX_KEY_SIZE) {
        errno = EINVAL;
        return -1;
    }
    size_t size = sizeof(struct fscrypt_add_key_arg) + raw_size;
    struct fscrypt_add_key_arg *arg = calloc(1, size);
    if (arg == NULL) return -1;
    arg->key_spec.type = FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER;
    arg->raw_size = raw_size;
    memcpy(arg->raw, raw, raw_size);
    int result = ioctl(fd, FS_IOC_ADD_ENCRYPTION_KEY, arg);
    if (result == 0) memcpy(identifier, arg->key_spec.u.identifier, FSCRYPT_KEY_IDENTIFIER_SIZE);
    explicit_bzero(arg, size);
    free(arg);
    return result;
}

int kontor_fscrypt_remove_key(int fd, const uint8_t identifier[16], uint32_t *status) {
    struct fscrypt_remove_key_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.key_spec.type = FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER;
    memcpy(arg.key_spec.u.identifier, identifier, FSCRYPT_KEY_IDENTIFIER_SIZE);
    int result = ioctl(fd, FS_IOC_REMOVE_ENCRYPTION_KEY, &arg);
    if (result == 0) *status = arg.removal_status_flags;
    return result;
}

int kontor_fscrypt_set_policy(int fd, const uint8_t identifier[16]) {
    struct fscrypt_policy_v2 policy;
    memset(&policy, 0, sizeof(policy));
    policy.version = FSCRYPT_POLICY_V2;
    policy.contents_encryption_mode = FSCRYPT_MODE_AES_256_XTS;
    policy.filenames_encryption_mode = FSCRYPT_MODE_AES_256_CTS;
    policy.flags = FSCRYPT_POLICY_FLAGS_PAD_32;
    memcpy(policy.master_key_identifier, identifier, FSCRYPT_KEY_IDENTIFIER_SIZE);
    return ioctl(fd, FS_IOC_SET_ENCRYPTION_POLICY, &policy);
}

int kontor_fscrypt_policy(int fd, uint8_t identifier[16], int *version) {
    struct fscrypt_get_policy_ex_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.policy_size = sizeof(arg.policy);
    if (ioctl(fd, FS_IOC_GET_ENCRYPTION_POLICY_EX, &arg) != 0) return -1;
    *version = arg.policy.version;
    if (arg.policy.version == FSCRYPT_POLICY_V2) {
        memcpy(identifier, arg.policy.v2.master_key_identifier, FSCRYPT_KEY_IDENTIFIER_SIZE);
    } else {
        memset(identifier, 0, FSCRYPT_KEY_IDENTIFIER_SIZE);
    }
    return 0;
}

int kontor_fscrypt_key_status(int fd, const uint8_t identifier[16], uint32_t *status) {
    struct fscrypt_get_key_status_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.key_spec.type = FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER;
    memcpy(arg.key_spec.u.identifier, identifier, FSCRYPT_KEY_IDENTIFIER_SIZE);
    if (ioctl(fd, FS_IOC_GET_ENCRYPTION_KEY_STATUS, &arg) != 0) return -1;
    *status = arg.status;
    return 0;
}
