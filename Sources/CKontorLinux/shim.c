// CKontorLinux is header-only (static inline wrappers); SwiftPM wants one source file per C target.
#include "CKontorLinux.h"
