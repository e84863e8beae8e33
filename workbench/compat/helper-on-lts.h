/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Workbench only, never mailed: what the helper uses of Linux 7.3 that a
 * long-term base lacks. workbench/lib.sh force-includes it into
 * dma-fence-user-fence.c alone on those bases (wb_compat_make_args).
 */
#ifndef __WB_HELPER_ON_LTS_H
#define __WB_HELPER_ON_LTS_H

#include <linux/slab.h>
#include <linux/version.h>
#include <linux/workqueue.h>

/*
 * 7.3 deprecates system_unbound_wq for system_dfl_wq, the same unbound
 * workqueue under a new name. Debian's 6.12 has both names (a stable
 * backport); 6.1 has only the old one.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#define system_dfl_wq system_unbound_wq
#endif

/*
 * kmalloc_obj(var), what 7.3's checkpatch asks for instead of kmalloc()
 * with a sizeof: one object of var's type, GFP_KERNEL. Debian's 6.12 has
 * it (a stable backport); 6.1 does not.
 */
#ifndef kmalloc_obj
#define kmalloc_obj(var) kmalloc(sizeof(var), GFP_KERNEL)
#endif

#endif /* __WB_HELPER_ON_LTS_H */
