// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * KUnit tests for the user queue wait ioctl: the fences that no user queue of
 * the device signals, and the hang timer of the queue that waits for them.
 *
 * There is no GPU. The device is a DRM KUnit device, its seq64 area plain
 * memory and its user queue functions those below. The test plays the
 * hardware: it writes a queue's read pointer and calls the fence interrupt
 * handler, and it runs a queue's hang work when a case lets the timeout pass.
 */

#include <kunit/device.h>
#include <kunit/test.h>
#include <linux/dma-fence-array.h>
#include <linux/dma-fence-chain.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/fault-inject.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/mman.h>
#include <linux/uaccess.h>

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_kunit_helpers.h>
#include <drm/drm_syncobj.h>

#include "amdgpu.h"
#include "amdgpu_reset.h"
#include "amdgpu_userq.h"
#include "amdgpu_userq_fence.h"

/* The hang timeout: it never expires by itself during a case. */
#define UQ_TIMEOUT	(3600 * HZ)
#define UQ_SEQ64_SLOTS	64
/* How long a case waits for what must happen before it fails. */
#define UQ_WAIT_MS	10000
#define UQ_MAX		8

static atomic_t uq_resets;

static int uq_reset(struct amdgpu_usermode_queue *queue)
{
	atomic_inc(&uq_resets);
	return 0;
}

static int uq_unmap(struct amdgpu_usermode_queue *queue)
{
	return 0;
}

/* The hardware seam: the user queue functions amdgpu_userq.c calls */
static const struct amdgpu_userq_funcs uq_funcs = {
	.unmap = uq_unmap,
	.reset = uq_reset,
};

static const struct file_operations uq_fops = {
	.owner = THIS_MODULE,
	.release = drm_release,
};

static const struct drm_driver uq_driver = {
	.driver_features = DRIVER_GEM | DRIVER_SYNCOBJ |
			   DRIVER_SYNCOBJ_TIMELINE,
	.fops = &uq_fops,
	.name = "amdgpu-userq-test",
	.desc = "amdgpu user queue KUnit test",
};

struct uq_dev {
	struct amdgpu_device *adev;
	struct file *file;
	struct drm_file *file_priv;
	struct amdgpu_fpriv *fpriv;
	/* the drm_device references a case starts and must end with */
	unsigned int drm_refs;
	u32 next_doorbell;
	/* a slot of the seq64 area: its GPU address and its CPU address */
	u64 va0;
	u64 *cpu0;
};

struct uq_test {
	struct uq_dev dev[2];
	/* a page of user memory for the ioctl's arrays */
	unsigned long user;
	/* the mock fences, signalled at the end of the case */
	struct list_head fences;
	struct amdgpu_usermode_queue *queues[UQ_MAX];
	unsigned int num_queues;
};

/* Mock fences on their own lock */

struct uq_fence {
	struct dma_fence base;
	struct list_head link;
	struct dma_fence_cb cb;
};

static const char *uq_fence_name(struct dma_fence *f)
{
	return "amdgpu-userq-test";
}

static const struct dma_fence_ops uq_fence_ops = {
	.get_driver_name = uq_fence_name,
	.get_timeline_name = uq_fence_name,
};

/* Signals as soon as somebody waits for it: the blocking fallback returns. */
static bool uq_fence_ready(struct dma_fence *f)
{
	return false;
}

static const struct dma_fence_ops uq_ready_fence_ops = {
	.get_driver_name = uq_fence_name,
	.get_timeline_name = uq_fence_name,
	.enable_signaling = uq_fence_ready,
};

static struct dma_fence *uq_fence_new(struct kunit *test,
				      const struct dma_fence_ops *ops)
{
	struct uq_test *t = test->priv;
	struct uq_fence *f;

	f = kzalloc_obj(*f);
	KUNIT_ASSERT_NOT_NULL(test, f);
	dma_fence_init(&f->base, ops, NULL, dma_fence_context_alloc(1), 1);
	/* The list keeps this reference until the end of the case. */
	list_add_tail(&f->link, &t->fences);
	return &f->base;
}

static struct dma_fence *uq_fence(struct kunit *test)
{
	return uq_fence_new(test, &uq_fence_ops);
}

static void uq_fence_follow_cb(struct dma_fence *f, struct dma_fence_cb *cb)
{
	dma_fence_signal(&container_of(cb, struct uq_fence, cb)->base);
}

/* @foreign signals once @f has: the job of another driver waits for @f. */
static void uq_fence_follow(struct dma_fence *foreign, struct dma_fence *f)
{
	struct uq_fence *uf = container_of(foreign, struct uq_fence, base);

	if (dma_fence_add_callback(f, &uf->cb, uq_fence_follow_cb))
		dma_fence_signal(foreign);
}

/* Devices, files and queues */

static void uq_put_reset_domain(void *domain)
{
	amdgpu_reset_put_reset_domain(domain);
}

static void uq_close(void *file)
{
	fput(file);
	flush_delayed_fput();
}

static void uq_dev_init(struct kunit *test, struct uq_dev *d,
			const char *name)
{
	struct amdgpu_device *adev;
	struct drm_device *drm;
	struct device *dev;
	int r;

	dev = kunit_device_register(test, name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	drm = __drm_kunit_helper_alloc_drm_device_with_driver(test, dev, sizeof(*adev),
							      offsetof(struct amdgpu_device, ddev),
							      &uq_driver);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, drm);

	adev = drm_to_adev(drm);
	adev->dev = dev;
	adev->seq64.cpu_base_addr = kunit_kcalloc(test, UQ_SEQ64_SLOTS,
						  sizeof(u64), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, adev->seq64.cpu_base_addr);
	adev->seq64.num_sem = UQ_SEQ64_SLOTS;
	adev->userq_funcs[AMDGPU_HW_IP_GFX] = &uq_funcs;
	adev->gfx.gfx_supported_reset = AMDGPU_RESET_TYPE_PER_QUEUE;
	adev->gfx_timeout = UQ_TIMEOUT;
	xa_init_flags(&adev->userq_doorbell_xa, XA_FLAGS_LOCK_IRQ);
	adev->reset_domain = amdgpu_reset_create_reset_domain(SINGLE_DEVICE,
							      "uq-test");
	KUNIT_ASSERT_NOT_NULL(test, adev->reset_domain);
	r = kunit_add_action_or_reset(test, uq_put_reset_domain,
				      adev->reset_domain);
	KUNIT_ASSERT_EQ(test, r, 0);

	d->file = mock_drm_getfile(drm->primary, O_RDWR);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, d->file);
	r = kunit_add_action_or_reset(test, uq_close, d->file);
	KUNIT_ASSERT_EQ(test, r, 0);
	d->file_priv = d->file->private_data;
	d->fpriv = kunit_kzalloc(test, sizeof(*d->fpriv), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, d->fpriv);
	d->file_priv->driver_priv = d->fpriv;
	amdgpu_userq_mgr_init(&d->fpriv->userq_mgr, d->file_priv, adev);
	d->drm_refs = kref_read(&drm->ref);
	d->adev = adev;
}

/*
 * A mapped user queue of @d, with what amdgpu_userq_create() sets up for the
 * fence paths; the case holds the queue's reference.
 */
static struct amdgpu_usermode_queue *uq_queue(struct kunit *test,
					      struct uq_dev *d, u32 *qid)
{
	struct uq_test *t = test->priv;
	struct amdgpu_usermode_queue *q;
	int r;

	KUNIT_ASSERT_LT(test, t->num_queues, UQ_MAX);
	q = kzalloc_obj(*q);
	KUNIT_ASSERT_NOT_NULL(test, q);
	kref_init(&q->refcount);
	q->queue_type = AMDGPU_HW_IP_GFX;
	q->state = AMDGPU_USERQ_STATE_MAPPED;
	q->userq_mgr = &d->fpriv->userq_mgr;
	INIT_DELAYED_WORK(&q->hang_detect_work, amdgpu_userq_hang_detect_work);
	xa_init_flags(&q->fence_drv_xa, XA_FLAGS_ALLOC);
	mutex_init(&q->fence_drv_lock);
	r = amdgpu_userq_fence_driver_alloc(d->adev, &q->fence_drv);
	if (r)
		kfree(q);
	KUNIT_ASSERT_EQ(test, r, 0);
	t->queues[t->num_queues++] = q;
	if (!d->cpu0) {
		d->va0 = q->fence_drv->va;
		d->cpu0 = q->fence_drv->cpu_addr;
	}

	q->doorbell_index = d->next_doorbell++;
	r = xa_err(xa_store_irq(&d->adev->userq_doorbell_xa, q->doorbell_index,
				q, GFP_KERNEL));
	KUNIT_ASSERT_EQ(test, r, 0);
	r = xa_alloc(&q->userq_mgr->userq_xa, qid, q,
		     XA_LIMIT(1, AMDGPU_MAX_USERQ_COUNT), GFP_KERNEL);
	KUNIT_ASSERT_EQ(test, r, 0);
	return q;
}

/*
 * Take @q down as amdgpu_userq_destroy() does once the queue is idle, without
 * its MES and doorbell buffer steps: what is still pending completes first,
 * as the hang timer would make it.
 */
static void uq_queue_fini(struct kunit *test, struct amdgpu_usermode_queue *q)
{
	struct uq_test *t = test->priv;
	struct amdgpu_userq_mgr *mgr = q->userq_mgr;
	struct amdgpu_usermode_queue *entry;
	unsigned long index;
	unsigned int i;

	for (i = 0; i < t->num_queues; i++)
		if (t->queues[i] == q)
			t->queues[i] = NULL;
	xa_for_each(&mgr->userq_xa, index, entry)
		if (entry == q)
			xa_erase(&mgr->userq_xa, index);
	xa_erase_irq(&mgr->adev->userq_doorbell_xa, q->doorbell_index);
	amdgpu_userq_fence_driver_force_completion(q);
	cancel_delayed_work_sync(&q->hang_detect_work);
	amdgpu_userq_fence_driver_free(q);
	kfree(q);
}

/* A fence of @q at @seq, as amdgpu_userq_signal_ioctl() emits it */
static struct dma_fence *uq_emit(struct kunit *test,
				 struct amdgpu_usermode_queue *q, u64 seq)
{
	struct amdgpu_userq_fence *fence;

	KUNIT_ASSERT_EQ(test, amdgpu_userq_fence_alloc(q, &fence), 0);
	amdgpu_userq_fence_init(q, fence, seq);
	return &fence->base;
}

/* The queue reached @seq and raised the fence interrupt. */
static void uq_complete(struct amdgpu_usermode_queue *q, u64 seq)
{
	WRITE_ONCE(*q->fence_drv->cpu_addr, (__force u64)cpu_to_le64(seq));
	amdgpu_userq_process_fence_irq(q->userq_mgr->adev, q->doorbell_index);
}

/* The hang timer of @q is armed, to expire within the queue's timeout. */
static bool uq_armed(struct amdgpu_usermode_queue *q)
{
	return delayed_work_pending(&q->hang_detect_work) &&
	       time_before_eq(q->hang_detect_work.timer.expires,
			      jiffies + q->userq_mgr->adev->gfx_timeout);
}

/* The hang timeout of @q has passed: its hang work runs, if it was armed. */
static void uq_timeout(struct amdgpu_usermode_queue *q)
{
	struct amdgpu_device *adev = q->userq_mgr->adev;

	if (delayed_work_pending(&q->hang_detect_work))
		mod_delayed_work(adev->reset_domain->wq, &q->hang_detect_work, 0);
	flush_delayed_work(&q->hang_detect_work);
}

/* The CPU address of @va in the seq64 area of @d, or NULL */
static u64 *uq_seq64(struct uq_dev *d, u64 va)
{
	s64 i = d->cpu0 - d->adev->seq64.cpu_base_addr;

	if (!d->cpu0 || (va - d->va0) % sizeof(u64))
		return NULL;
	i += (s64)(va - d->va0) / (s64)sizeof(u64);
	if (i < 0 || i >= UQ_SEQ64_SLOTS)
		return NULL;
	return d->adev->seq64.cpu_base_addr + i;
}

static u64 uq_read(struct uq_dev *d, u64 va)
{
	return le64_to_cpu((__force __le64)READ_ONCE(*uq_seq64(d, va)));
}

/*
 * Wait until @va holds @value or more. The store comes from the callback of
 * the last point, which runs after the point is marked signalled, from the
 * irq_work of the chain: poll, and fail after UQ_WAIT_MS.
 */
static bool uq_reaches(struct uq_dev *d, u64 va, u64 value)
{
	unsigned long end = jiffies + msecs_to_jiffies(UQ_WAIT_MS);

	while (uq_read(d, va) < value) {
		if (time_after(jiffies, end))
			return false;
		usleep_range(100, 200);
	}
	return true;
}

/*
 * The points of @q's wait timeline, each with a reference, taken while none
 * has signalled, so that the walk finds them all.
 */
struct uq_points {
	struct dma_fence *p[UQ_MAX];
	unsigned int n;
};

static void uq_points_get(struct kunit *test, struct amdgpu_usermode_queue *q,
			  struct uq_points *pts)
{
	struct dma_fence *p;

	pts->n = 0;
	dma_fence_chain_for_each(p, q->wait_last) {
		KUNIT_ASSERT_NOT_NULL(test, to_dma_fence_chain(p));
		KUNIT_ASSERT_LT(test, pts->n, UQ_MAX);
		pts->p[pts->n++] = dma_fence_get(p);
	}
}

static void uq_points_put(struct uq_points *pts)
{
	while (pts->n)
		dma_fence_put(pts->p[--pts->n]);
}

/*
 * A point signals from the irq_work of a chain, after the fence it waited
 * for. Asking each point whether it has signalled signals it at once if
 * its fences have: then what was going to store has stored.
 */
static void uq_points_settle(struct uq_points *pts)
{
	unsigned int i;

	for (i = 0; i < pts->n; i++)
		dma_fence_is_signaled(pts->p[i]);
}

/* The wait ioctl, called as userspace calls it */

struct uq_wait {
	u32 syncobjs[UQ_MAX];
	unsigned int num_syncobjs;
	u32 timelines[UQ_MAX];
	u64 points[UQ_MAX];
	unsigned int num_timelines;
	u32 bos[UQ_MAX];
	unsigned int num_bos;
	/* without AMDGPU_USERQ_WAIT_FLAGS_FOREIGN_SLOT, as before the flag */
	bool blocking;
	/* out: the count of the first call, the entries of the second */
	unsigned int count;
	struct drm_amdgpu_userq_fence_info out[UQ_MAX];
	unsigned int num_out;
};

static u32 uq_syncobj(struct kunit *test, struct uq_dev *d,
		      struct dma_fence *fence)
{
	struct drm_syncobj *syncobj;
	u32 handle;
	int r;

	KUNIT_ASSERT_EQ(test, drm_syncobj_create(&syncobj, 0, fence), 0);
	r = drm_syncobj_get_handle(d->file_priv, syncobj, &handle);
	drm_syncobj_put(syncobj);
	KUNIT_ASSERT_EQ(test, r, 0);
	return handle;
}

static void uq_wait_on(struct kunit *test, struct uq_dev *d,
		       struct uq_wait *w, struct dma_fence *fence)
{
	KUNIT_ASSERT_LT(test, w->num_syncobjs, UQ_MAX);
	w->syncobjs[w->num_syncobjs++] = uq_syncobj(test, d, fence);
}

/*
 * With num_fences 0 for the count, then with room for that many entries.
 * With @fault, out_fences is an address that faults.
 */
static int uq_wait_ioctl(struct kunit *test, struct uq_dev *d, u32 qid,
			 struct uq_wait *w, bool fault)
{
	struct uq_test *t = test->priv;
	struct drm_amdgpu_userq_wait args = {
		.waitq_id = qid,
		.syncobj_handles = t->user,
		.syncobj_timeline_handles = t->user + 256,
		.syncobj_timeline_points = t->user + 512,
		.bo_write_handles = t->user + 1024,
		.num_syncobj_handles = w->num_syncobjs,
		.num_syncobj_timeline_handles = w->num_timelines,
		.num_bo_write_handles = w->num_bos,
		.out_fences = fault ? 8 : t->user + 2048,
		.flags = w->blocking ? 0 : AMDGPU_USERQ_WAIT_FLAGS_FOREIGN_SLOT,
	};
	struct drm_device *drm = adev_to_drm(d->adev);
	void __user *user = (void __user *)t->user;
	int r;

	KUNIT_ASSERT_EQ(test, copy_to_user(user, w->syncobjs,
					   sizeof(w->syncobjs)), 0);
	KUNIT_ASSERT_EQ(test, copy_to_user(user + 256, w->timelines,
					   sizeof(w->timelines)), 0);
	KUNIT_ASSERT_EQ(test, copy_to_user(user + 512, w->points,
					   sizeof(w->points)), 0);
	KUNIT_ASSERT_EQ(test, copy_to_user(user + 1024, w->bos,
					   sizeof(w->bos)), 0);

	w->num_out = 0;
	r = amdgpu_userq_wait_ioctl(drm, &args, d->file_priv);
	if (r)
		return r;
	w->count = args.num_fences;
	if (!w->count)
		return 0;

	r = amdgpu_userq_wait_ioctl(drm, &args, d->file_priv);
	if (r)
		return r;
	KUNIT_ASSERT_LE(test, args.num_fences, UQ_MAX);
	w->num_out = args.num_fences;
	KUNIT_ASSERT_EQ(test, copy_from_user(w->out, user + 2048,
					     w->num_out * sizeof(w->out[0])),
			0);
	return 0;
}

/* The entry of @w in the seq64 area of @d that is no queue's own, or NULL */
static struct drm_amdgpu_userq_fence_info *
uq_slot_entry(struct kunit *test, struct uq_dev *d, struct uq_wait *w)
{
	struct uq_test *t = test->priv;
	unsigned int i, j;

	for (i = 0; i < w->num_out; i++) {
		if (!uq_seq64(d, w->out[i].va))
			continue;
		for (j = 0; j < t->num_queues; j++)
			if (t->queues[j] &&
			    t->queues[j]->fence_drv->va == w->out[i].va)
				break;
		if (j == t->num_queues)
			return &w->out[i];
	}
	return NULL;
}

/* Fixture */

static int uq_test_init(struct kunit *test)
{
	struct uq_test *t;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	INIT_LIST_HEAD(&t->fences);
	test->priv = t;
	atomic_set(&uq_resets, 0);

	t->user = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE,
				PROT_READ | PROT_WRITE,
				MAP_ANONYMOUS | MAP_PRIVATE, 0);
	if (IS_ERR_VALUE(t->user) || !t->user)
		kunit_skip(test, "no user memory for the ioctl's arrays (kunit_vm_mmap: %ld)",
			   (long)t->user);
	/* Fault the page in now: the failslab case fails allocations. */
	KUNIT_ASSERT_EQ(test, clear_user((void __user *)t->user, PAGE_SIZE), 0);

	uq_dev_init(test, &t->dev[0], "amdgpu-userq-test-0");
	uq_dev_init(test, &t->dev[1], "amdgpu-userq-test-1");
	return 0;
}

/*
 * Signal what the case left pending and take the queues down; then every
 * store is done and every slot released once each device is back to the
 * references it started with. The user queue fences go after an RCU grace
 * period, and with them the fence drivers, which free their seq64 slots on
 * their device: that too must come before the devices go.
 */
static void uq_test_exit(struct kunit *test)
{
	struct uq_test *t = test->priv;
	struct uq_fence *f, *next;
	unsigned long end;
	unsigned int i;

	list_for_each_entry_safe(f, next, &t->fences, link) {
		dma_fence_signal(&f->base);
		list_del(&f->link);
		dma_fence_put(&f->base);
	}
	for (i = 0; i < t->num_queues; i++)
		if (t->queues[i])
			uq_queue_fini(test, t->queues[i]);

	end = jiffies + msecs_to_jiffies(UQ_WAIT_MS);
	for (i = 0; i < ARRAY_SIZE(t->dev); i++) {
		struct drm_device *drm;

		if (!t->dev[i].adev)
			continue;
		drm = adev_to_drm(t->dev[i].adev);
		while (kref_read(&drm->ref) > t->dev[i].drm_refs &&
		       time_before(jiffies, end))
			usleep_range(1000, 2000);
		KUNIT_EXPECT_EQ_MSG(test, kref_read(&drm->ref),
				    t->dev[i].drm_refs,
				    "a wait slot of device %u was never released", i);
	}
	/* A file's syncobjs may hold the other device's fences. */
	for (i = 0; i < ARRAY_SIZE(t->dev); i++)
		if (t->dev[i].file)
			kunit_release_action(test, uq_close, t->dev[i].file);
	rcu_barrier();
}

/* Cases */

struct uq_order {
	unsigned int i[3];
};

static const struct uq_order uq_orders[] = {
	{ { 0, 1, 2 } }, { { 0, 2, 1 } }, { { 1, 0, 2 } },
	{ { 1, 2, 0 } }, { { 2, 0, 1 } }, { { 2, 1, 0 } },
};

static void uq_order_desc(const struct uq_order *order, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "signalled in order %u, %u, %u",
		 order->i[0], order->i[1], order->i[2]);
}

KUNIT_ARRAY_PARAM(uq_order, uq_orders, uq_order_desc);

/*
 * The foreign fences of one call become one entry, a slot of the queue, whose
 * value is reached only once all of them have signalled, in any order.
 */
static void test_foreign_one_entry(struct kunit *test)
{
	const struct uq_order *order = test->param_value;
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	struct drm_amdgpu_userq_fence_info *e;
	struct amdgpu_usermode_queue *q;
	struct uq_points pts;
	struct dma_fence *f[3];
	struct uq_wait w = {};
	unsigned int i;
	u32 qid;

	q = uq_queue(test, d, &qid);
	for (i = 0; i < 3; i++) {
		f[i] = uq_fence(test);
		uq_wait_on(test, d, &w, f[i]);
	}

	KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w, false), 0);
	KUNIT_EXPECT_EQ(test, w.count, 3);
	KUNIT_ASSERT_EQ(test, w.num_out, 1);
	e = uq_slot_entry(test, d, &w);
	KUNIT_ASSERT_NOT_NULL(test, e);
	KUNIT_EXPECT_EQ(test, e->value, 3);
	uq_points_get(test, q, &pts);
	KUNIT_EXPECT_EQ(test, pts.n, 3);

	for (i = 0; i < 3; i++) {
		uq_points_settle(&pts);
		KUNIT_EXPECT_LT(test, uq_read(d, e->va), e->value);
		dma_fence_signal(f[order->i[i]]);
	}
	KUNIT_EXPECT_TRUE(test, uq_reaches(d, e->va, e->value));
	uq_points_put(&pts);
	KUNIT_EXPECT_EQ(test, atomic_read(&uq_resets), 0);
}

/*
 * The slot is a timeline across calls: a later call's fences signalling
 * first do not make the slot reach an earlier call's value.
 */
static void test_calls_share_timeline(struct kunit *test)
{
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	struct drm_amdgpu_userq_fence_info e1, e2;
	struct uq_wait w1 = {}, w2 = {};
	struct amdgpu_usermode_queue *q;
	struct dma_fence *f1, *f2;
	struct uq_points pts;
	u32 qid;

	q = uq_queue(test, d, &qid);
	f1 = uq_fence(test);
	f2 = uq_fence(test);
	uq_wait_on(test, d, &w1, f1);
	uq_wait_on(test, d, &w2, f2);
	KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w1, false), 0);
	KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w2, false), 0);
	KUNIT_ASSERT_EQ(test, w1.num_out, 1);
	KUNIT_ASSERT_EQ(test, w2.num_out, 1);
	e1 = w1.out[0];
	e2 = w2.out[0];
	KUNIT_EXPECT_EQ(test, e1.va, e2.va);
	KUNIT_EXPECT_LT(test, e1.value, e2.value);
	uq_points_get(test, q, &pts);

	dma_fence_signal(f2);
	uq_points_settle(&pts);
	KUNIT_EXPECT_LT(test, uq_read(d, e1.va), e1.value);

	dma_fence_signal(f1);
	KUNIT_EXPECT_TRUE(test, uq_reaches(d, e2.va, e2.value));
	uq_points_put(&pts);
}

/* What userspace can hand the ioctl, and what it must make of it */
enum uq_input {
	UQ_SIGNALLED,
	UQ_STUB,
	UQ_ARRAY,
	UQ_CHAIN_IN_BINARY,
	UQ_TIMELINE_POINT,
	UQ_RESV,
	UQ_RESV_AND_SYNCOBJ,
	UQ_OTHER_DEVICE,
	UQ_THIS_DEVICE,
	UQ_ARRAY_WITH_THIS_DEVICE,
};

struct uq_input_case {
	enum uq_input input;
	const char *desc;
	unsigned int count;	/* what the counting call returns */
	unsigned int own;	/* entries of this device's user queue fences */
	unsigned int points;	/* the foreign fences of the slot entry */
};

static const struct uq_input_case uq_input_cases[] = {
	{ UQ_SIGNALLED, "a signalled fence", 0, 0, 0 },
	{ UQ_STUB, "the stub fence", 0, 0, 0 },
	{ UQ_ARRAY, "a dma_fence_array of two timelines (SYNC_IOC_MERGE)",
	  2, 0, 2 },
	{ UQ_CHAIN_IN_BINARY, "a dma_fence_chain in a binary syncobj",
	  1, 0, 1 },
	{ UQ_TIMELINE_POINT, "a point of a timeline syncobj", 1, 0, 1 },
	{ UQ_RESV, "a fence of another driver in a reservation object, waited for",
	  1, 0, 0 },
	{ UQ_RESV_AND_SYNCOBJ,
	  "a reservation object's fence, waited for, and a syncobj's", 2, 0, 1 },
	{ UQ_OTHER_DEVICE, "a user queue fence of another device", 1, 0, 1 },
	{ UQ_THIS_DEVICE, "a user queue fence of this device", 1, 1, 0 },
	{ UQ_ARRAY_WITH_THIS_DEVICE,
	  "a dma_fence_array of a fence of this device and a foreign one",
	  2, 1, 1 },
};

KUNIT_ARRAY_PARAM_DESC(uq_input, uq_input_cases, desc);

static void uq_gem_free(struct drm_gem_object *obj)
{
	drm_gem_object_release(obj);
	kfree(obj);
}

static const struct drm_gem_object_funcs uq_gem_funcs = {
	.free = uq_gem_free,
};

/* A buffer object of @d's file whose reservation object holds @fence */
static u32 uq_bo(struct kunit *test, struct uq_dev *d, struct dma_fence *fence)
{
	struct drm_gem_object *obj;
	u32 handle;
	int r;

	obj = kzalloc_obj(*obj);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	obj->funcs = &uq_gem_funcs;
	drm_gem_private_object_init(adev_to_drm(d->adev), obj, PAGE_SIZE);
	dma_resv_lock(obj->resv, NULL);
	r = dma_resv_reserve_fences(obj->resv, 1);
	if (!r)
		dma_resv_add_fence(obj->resv, fence, DMA_RESV_USAGE_WRITE);
	dma_resv_unlock(obj->resv);
	if (!r)
		r = drm_gem_handle_create(d->file_priv, obj, &handle);
	drm_gem_object_put(obj);
	KUNIT_ASSERT_EQ(test, r, 0);
	return handle;
}

/*
 * The counting and the filling call agree on every input, containers are
 * unwrapped (a chain inside a chain point would be dma_fence_chain_init()'s
 * WARN), signalled fences are left out, and only this device's user queue
 * fences get entries of their own.
 */
static void test_inputs(struct kunit *test)
{
	const struct uq_input_case *c = test->param_value;
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	struct dma_fence *fence = NULL, *mine = NULL, **pair;
	struct amdgpu_usermode_queue *q, *other;
	struct drm_amdgpu_userq_fence_info *e;
	struct dma_fence_array *array;
	struct dma_fence_chain *chain;
	struct drm_syncobj *syncobj;
	struct uq_wait w = {};
	u32 qid, other_qid;

	q = uq_queue(test, d, &qid);
	switch (c->input) {
	case UQ_SIGNALLED:
		fence = uq_fence(test);
		dma_fence_signal(fence);
		break;
	case UQ_STUB:
		fence = dma_fence_get_stub();
		uq_wait_on(test, d, &w, fence);
		dma_fence_put(fence);
		fence = NULL;
		break;
	case UQ_ARRAY:
	case UQ_ARRAY_WITH_THIS_DEVICE:
		pair = kmalloc_array(2, sizeof(*pair), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, pair);
		if (c->input == UQ_ARRAY) {
			pair[0] = dma_fence_get(uq_fence(test));
		} else {
			other = uq_queue(test, d, &other_qid);
			mine = uq_emit(test, other, 1);
			pair[0] = dma_fence_get(mine);
		}
		pair[1] = dma_fence_get(uq_fence(test));
		array = dma_fence_array_create(2, pair,
					       dma_fence_context_alloc(1), 1);
		KUNIT_ASSERT_NOT_NULL(test, array);
		uq_wait_on(test, d, &w, &array->base);
		dma_fence_put(&array->base);
		break;
	case UQ_CHAIN_IN_BINARY:
		chain = dma_fence_chain_alloc();
		KUNIT_ASSERT_NOT_NULL(test, chain);
		dma_fence_chain_init(chain, NULL, dma_fence_get(uq_fence(test)),
				     1);
		uq_wait_on(test, d, &w, &chain->base);
		dma_fence_put(&chain->base);
		break;
	case UQ_TIMELINE_POINT:
		chain = dma_fence_chain_alloc();
		KUNIT_ASSERT_NOT_NULL(test, chain);
		KUNIT_ASSERT_EQ(test, drm_syncobj_create(&syncobj, 0, NULL), 0);
		drm_syncobj_add_point(syncobj, chain, uq_fence(test), 1);
		KUNIT_ASSERT_EQ(test, drm_syncobj_get_handle(d->file_priv,
							     syncobj,
							     &w.timelines[0]),
				0);
		drm_syncobj_put(syncobj);
		w.points[0] = 1;
		w.num_timelines = 1;
		break;
	case UQ_RESV_AND_SYNCOBJ:
		fence = uq_fence(test);
		fallthrough;
	case UQ_RESV:
		/* It must be waited for in the ioctl: one that signals then. */
		mine = dma_fence_get(uq_fence_new(test, &uq_ready_fence_ops));
		w.bos[w.num_bos++] = uq_bo(test, d, mine);
		break;
	case UQ_OTHER_DEVICE:
		other = uq_queue(test, &t->dev[1], &other_qid);
		mine = uq_emit(test, other, 1);
		fence = mine;
		break;
	case UQ_THIS_DEVICE:
		other = uq_queue(test, d, &other_qid);
		mine = uq_emit(test, other, 1);
		fence = mine;
		break;
	}
	if (fence)
		uq_wait_on(test, d, &w, fence);

	KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w, false), 0);
	KUNIT_EXPECT_EQ(test, w.count, c->count);
	KUNIT_EXPECT_EQ(test, w.num_out, c->own + !!c->points);
	e = uq_slot_entry(test, d, &w);
	KUNIT_EXPECT_EQ(test, !!e, !!c->points);
	KUNIT_EXPECT_EQ(test, q->wait_seqno, c->points);
	if (c->input == UQ_RESV || c->input == UQ_RESV_AND_SYNCOBJ)
		KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(mine));
	if (c->own) {
		struct amdgpu_userq_fence *uf = container_of(mine,
				struct amdgpu_userq_fence, base);

		KUNIT_EXPECT_TRUE(test, w.out[0].va == uf->fence_drv->va ||
				  w.out[1].va == uf->fence_drv->va);
	}
	dma_fence_put(mine);
}

enum uq_cycle {
	UQ_CYCLE_FENCE_AFTER,
	UQ_CYCLE_EARLIER_COMPLETES,
	UQ_CYCLE_OTHER_DEVICE,
};

struct uq_cycle_case {
	enum uq_cycle cycle;
	const char *desc;
};

static const struct uq_cycle_case uq_cycle_cases[] = {
	{ UQ_CYCLE_FENCE_AFTER,
	  "a kernel job, of this device or another, waits for a later fence of the queue" },
	{ UQ_CYCLE_EARLIER_COMPLETES,
	  "an earlier fence of the queue completes after the wait" },
	{ UQ_CYCLE_OTHER_DEVICE,
	  "the queues of two devices wait for each other" },
};

KUNIT_ARRAY_PARAM_DESC(uq_cycle, uq_cycle_cases, desc);

/*
 * A foreign fence that depends on the waiting queue: only the queue's hang
 * timer can end the cycle. It is armed whatever the wait ioctl did; when the
 * timeout passes, the queue is reset, its fence completes with -ECANCELED,
 * the foreign fence signals and the slot reaches its value.
 */
static void test_cycle(struct kunit *test)
{
	const struct uq_cycle_case *c = test->param_value;
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0], *d1 = &t->dev[1];
	struct drm_amdgpu_userq_fence_info *e, e1 = {};
	struct dma_fence *foreign, *earlier = NULL, *fence, *other = NULL;
	struct amdgpu_usermode_queue *q, *q1 = NULL;
	struct uq_wait w = {}, w1 = {};
	u32 qid, qid1;

	q = uq_queue(test, d, &qid);
	if (c->cycle == UQ_CYCLE_EARLIER_COMPLETES)
		earlier = uq_emit(test, q, 1);

	if (c->cycle == UQ_CYCLE_OTHER_DEVICE) {
		/* Queue 1 of the other device waits for our fence. */
		q1 = uq_queue(test, d1, &qid1);
		fence = uq_emit(test, q, 1);
		foreign = uq_emit(test, q1, 1);
		other = foreign;
		uq_wait_on(test, d1, &w1, fence);
		KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d1, qid1, &w1, false),
				0);
		KUNIT_ASSERT_EQ(test, w1.num_out, 1);
		e1 = w1.out[0];
		uq_wait_on(test, d, &w, foreign);
		KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w, false), 0);
	} else {
		foreign = uq_fence(test);
		uq_wait_on(test, d, &w, foreign);
		KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w, false), 0);
		fence = uq_emit(test, q, 2);
		uq_fence_follow(foreign, fence);
	}
	KUNIT_ASSERT_EQ(test, w.num_out, 1);
	e = uq_slot_entry(test, d, &w);
	KUNIT_ASSERT_NOT_NULL(test, e);

	if (earlier) {
		uq_complete(q, 1);
		KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(earlier));
	}

	KUNIT_EXPECT_TRUE(test, uq_armed(q));
	if (q1)
		KUNIT_EXPECT_TRUE(test, uq_armed(q1));
	uq_timeout(q);
	KUNIT_EXPECT_EQ(test, atomic_read(&uq_resets), 1);
	KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(fence));
	KUNIT_EXPECT_EQ(test, fence->error, -ECANCELED);

	if (q1) {
		/* The other queue's wait is over: it runs and completes. */
		KUNIT_EXPECT_TRUE(test, uq_reaches(d1, e1.va, e1.value));
		uq_complete(q1, 1);
		KUNIT_EXPECT_EQ(test, other->error, 0);
	}
	KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(foreign));
	KUNIT_EXPECT_TRUE(test, uq_reaches(d, e->va, e->value));

	dma_fence_put(earlier);
	dma_fence_put(fence);
	dma_fence_put(other);
}

/*
 * A foreign fence that signals before the timeout: the queue completes its
 * fence, and nothing is reset.
 */
static void test_grace(struct kunit *test)
{
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	struct drm_amdgpu_userq_fence_info *e;
	struct amdgpu_usermode_queue *q;
	struct dma_fence *foreign, *fence;
	struct uq_wait w = {};
	u32 qid;

	q = uq_queue(test, d, &qid);
	foreign = uq_fence(test);
	uq_wait_on(test, d, &w, foreign);
	KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w, false), 0);
	e = uq_slot_entry(test, d, &w);
	KUNIT_ASSERT_NOT_NULL(test, e);
	fence = uq_emit(test, q, 1);
	KUNIT_EXPECT_TRUE(test, uq_armed(q));

	dma_fence_signal(foreign);
	KUNIT_EXPECT_TRUE(test, uq_reaches(d, e->va, e->value));
	uq_complete(q, 1);
	KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(fence));
	KUNIT_EXPECT_EQ(test, fence->error, 0);
	KUNIT_EXPECT_FALSE(test, delayed_work_pending(&q->hang_detect_work));
	uq_timeout(q);
	KUNIT_EXPECT_EQ(test, atomic_read(&uq_resets), 0);
	dma_fence_put(fence);
}

/*
 * The fence interrupt races the signal ioctl: the handler has found the
 * queue's last fence completed and no fence pending, and the ioctl emits a
 * fence before the handler stops the timer. The timer the earlier fence
 * started is still pending, so emitting does not start it again; the
 * handler must not leave the new fence without one. The test runs the
 * handler's two halves with the emission between them.
 */
static void test_timer_emit_during_irq(struct kunit *test)
{
	struct uq_test *t = test->priv;
	struct amdgpu_usermode_queue *q;
	struct dma_fence *first, *next;
	u32 qid;

	q = uq_queue(test, &t->dev[0], &qid);
	first = uq_emit(test, q, 1);
	KUNIT_ASSERT_TRUE(test, uq_armed(q));

	WRITE_ONCE(*q->fence_drv->cpu_addr, (__force u64)cpu_to_le64(1));
	KUNIT_ASSERT_EQ(test, amdgpu_userq_fence_driver_process(q->fence_drv), 0);
	KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(first));
	next = uq_emit(test, q, 2);
	amdgpu_userq_restart_hang_detect_work(q);
	KUNIT_EXPECT_TRUE(test, uq_armed(q));

	uq_timeout(q);
	KUNIT_EXPECT_EQ(test, next->error, -ECANCELED);
	dma_fence_put(next);
	dma_fence_put(first);
}

/*
 * Userspace that does not ask for a slot gets what it got before the flag:
 * the ioctl waits for the foreign fences, and returns no entry for them.
 * Flags it does not know are refused.
 */
static void test_without_flag(struct kunit *test)
{
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	struct drm_amdgpu_userq_wait args = {};
	struct amdgpu_usermode_queue *q;
	struct dma_fence *foreign;
	struct uq_wait w = {};
	u32 qid;

	q = uq_queue(test, d, &qid);
	foreign = uq_fence_new(test, &uq_ready_fence_ops);
	uq_wait_on(test, d, &w, foreign);
	w.blocking = true;
	KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w, false), 0);
	KUNIT_EXPECT_EQ(test, w.count, 1);
	KUNIT_EXPECT_EQ(test, w.num_out, 0);
	KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(foreign));
	KUNIT_EXPECT_NULL(test, q->wait_slot);

	args.waitq_id = qid;
	args.flags = AMDGPU_USERQ_WAIT_FLAGS_FOREIGN_SLOT << 1;
	KUNIT_EXPECT_EQ(test, amdgpu_userq_wait_ioctl(adev_to_drm(d->adev),
						      &args, d->file_priv),
			-EINVAL);
	args.flags = 0;
	args.pad1 = 1;
	KUNIT_EXPECT_EQ(test, amdgpu_userq_wait_ioctl(adev_to_drm(d->adev),
						      &args, d->file_priv),
			-EINVAL);
}

/* The queue's wait timeline as it was before a call */
struct uq_state {
	void *slot;
	struct dma_fence *last;
	u64 seqno;
};

static struct uq_state uq_state(struct amdgpu_usermode_queue *q)
{
	return (struct uq_state){ q->wait_slot, q->wait_last, q->wait_seqno };
}

static void uq_expect_state(struct kunit *test, struct amdgpu_usermode_queue *q,
			    struct uq_state s)
{
	KUNIT_EXPECT_PTR_EQ(test, (void *)q->wait_slot, s.slot);
	KUNIT_EXPECT_PTR_EQ(test, q->wait_last, s.last);
	KUNIT_EXPECT_EQ(test, q->wait_seqno, s.seqno);
}

enum uq_fallback {
	UQ_SEQ64_FULL,
	UQ_SEQ64_RESERVE,
	UQ_POINTS_PENDING,
};

struct uq_fallback_case {
	enum uq_fallback why;
	const char *desc;
};

static const struct uq_fallback_case uq_fallback_cases[] = {
	{ UQ_SEQ64_FULL, "the seq64 area is full" },
	{ UQ_SEQ64_RESERVE, "three quarters of the seq64 area are in use" },
	{ UQ_POINTS_PENDING, "the queue has as many points pending as it may" },
};

KUNIT_ARRAY_PARAM_DESC(uq_fallback, uq_fallback_cases, desc);

/*
 * A foreign wait that cannot be set up falls back to the blocking wait of
 * before, and leaves the queue's timeline as it was.
 */
static void test_fallback(struct kunit *test)
{
	const struct uq_fallback_case *c = test->param_value;
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	DECLARE_BITMAP(used, UQ_SEQ64_SLOTS);
	struct amdgpu_usermode_queue *q;
	struct dma_fence *foreign;
	struct uq_wait w = {};
	unsigned int i, n;
	struct uq_state s;
	u32 qid;
	int r;

	q = uq_queue(test, d, &qid);
	if (c->why == UQ_POINTS_PENDING) {
		for (n = 0; n < AMDGPU_USERQ_MAX_WAIT_POINTS; n += UQ_MAX) {
			memset(&w, 0, sizeof(w));
			for (i = 0; i < UQ_MAX; i++)
				uq_wait_on(test, d, &w, uq_fence(test));
			KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w,
							    false), 0);
			KUNIT_ASSERT_EQ(test, w.num_out, 1);
		}
		memset(&w, 0, sizeof(w));
	}

	foreign = uq_fence_new(test, &uq_ready_fence_ops);
	uq_wait_on(test, d, &w, foreign);
	s = uq_state(q);
	bitmap_copy(used, d->adev->seq64.used, UQ_SEQ64_SLOTS);
	if (c->why == UQ_SEQ64_FULL)
		bitmap_fill(d->adev->seq64.used, UQ_SEQ64_SLOTS);
	if (c->why == UQ_SEQ64_RESERVE)
		bitmap_set(d->adev->seq64.used, 0, UQ_SEQ64_SLOTS / 4 * 3);
	r = uq_wait_ioctl(test, d, qid, &w, false);
	bitmap_copy(d->adev->seq64.used, used, UQ_SEQ64_SLOTS);

	KUNIT_EXPECT_EQ(test, r, 0);
	KUNIT_EXPECT_EQ(test, w.count, 1);
	KUNIT_EXPECT_EQ(test, w.num_out, 0);
	KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(foreign));
	uq_expect_state(test, q, s);
}

/*
 * Each allocation of the call failing in turn: the call fails with -ENOMEM
 * before the foreign wait, or falls back to the blocking wait and leaves the
 * queue's timeline as it was, or, where the allocation that failed has a
 * fallback of its own (kvmalloc()), succeeds.
 */
static void test_fallback_allocations(struct kunit *test)
{
#ifdef CONFIG_FAULT_INJECTION
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	struct amdgpu_usermode_queue *q;
	unsigned int nth, fallbacks = 0;
	struct dma_fence *foreign;
	struct uq_state s;
	bool injected;
	u32 qid;
	int r;

	q = uq_queue(test, d, &qid);
	for (nth = 1; ; nth++) {
		struct uq_wait w = {};

		foreign = uq_fence_new(test, &uq_ready_fence_ops);
		uq_wait_on(test, d, &w, foreign);
		s = uq_state(q);
		current->fail_nth = nth;
		r = uq_wait_ioctl(test, d, qid, &w, false);
		injected = !current->fail_nth;
		current->fail_nth = 0;
		if (nth == 1 && !injected)
			kunit_skip(test,
				   "failslab ignores GFP_KERNEL: write N to failslab/ignore-gfp-wait in debugfs first");
		if (!injected)
			break;

		if (!r && w.num_out) {
			KUNIT_EXPECT_EQ(test, q->wait_seqno, s.seqno + 1);
			continue;
		}
		if (r) {
			KUNIT_EXPECT_EQ(test, r, -ENOMEM);
		} else {
			KUNIT_EXPECT_TRUE(test, dma_fence_is_signaled(foreign));
			fallbacks++;
		}
		uq_expect_state(test, q, s);
	}
	KUNIT_EXPECT_EQ(test, r, 0);
	KUNIT_EXPECT_NOT_NULL(test, q->wait_slot);
	/* the point, the slot and the user fence, at least */
	KUNIT_EXPECT_GE(test, fallbacks, 3);
#else
	kunit_skip(test, "needs CONFIG_FAULT_INJECTION and CONFIG_FAILSLAB");
#endif
}

/* @task sleeps uninterruptibly, as in a fence wait; fail after UQ_WAIT_MS */
static bool uq_blocked(struct task_struct *task)
{
	unsigned long end = jiffies + msecs_to_jiffies(UQ_WAIT_MS);

	while (READ_ONCE(task->__state) != TASK_UNINTERRUPTIBLE) {
		if (time_after(jiffies, end))
			return false;
		usleep_range(100, 200);
	}
	return true;
}

/* What amdgpu_eviction_fence_suspend_worker() does with the queues */
struct uq_evict {
	struct amdgpu_userq_mgr *mgr;
	struct completion done;
};

static int uq_evict_thread(void *data)
{
	struct uq_evict *ev = data;
	bool cookie;

	mutex_lock(&ev->mgr->userq_mutex);
	amdgpu_userq_wait_for_signal(ev->mgr);
	cookie = dma_fence_begin_signalling();
	amdgpu_userq_evict(ev->mgr);
	dma_fence_end_signalling(cookie);
	mutex_unlock(&ev->mgr->userq_mutex);
	complete(&ev->done);
	return 0;
}

enum uq_teardown {
	UQ_EVICT,
	UQ_EVICT_THEN_WAIT,
	UQ_DESTROY,
};

struct uq_teardown_case {
	enum uq_teardown teardown;
	const char *desc;
};

static const struct uq_teardown_case uq_teardown_cases[] = {
	{ UQ_EVICT, "eviction" },
	{ UQ_EVICT_THEN_WAIT, "eviction, and a wait call while it waits" },
	{ UQ_DESTROY, "the queue torn down, as destroy does after its wait" },
};

KUNIT_ARRAY_PARAM_DESC(uq_teardown, uq_teardown_cases, desc);

/*
 * Eviction and destroy wait for the queue's last fence, uninterruptibly; a
 * foreign fence that never signals does not make that wait endless, because
 * the hang timer stays armed, also when a wait call comes while eviction
 * waits. The slot outlives the queue until its last store.
 */
static void test_teardown(struct kunit *test)
{
	const struct uq_teardown_case *c = test->param_value;
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	struct dma_fence *foreign, *earlier, *fence;
	struct drm_amdgpu_userq_fence_info e;
	struct amdgpu_usermode_queue *q;
	struct task_struct *thread;
	struct uq_evict *ev;
	struct uq_wait w = {};
	u32 qid;

	q = uq_queue(test, d, &qid);
	foreign = uq_fence(test);
	uq_wait_on(test, d, &w, foreign);
	KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w, false), 0);
	KUNIT_ASSERT_EQ(test, w.num_out, 1);
	e = w.out[0];
	earlier = uq_emit(test, q, 1);
	fence = uq_emit(test, q, 2);

	if (c->teardown == UQ_DESTROY) {
		uq_complete(q, 1);
		KUNIT_EXPECT_TRUE(test, uq_armed(q));
		uq_timeout(q);
		KUNIT_EXPECT_EQ(test, fence->error, -ECANCELED);
		uq_queue_fini(test, q);
		/* The pending store keeps the slot, and the slot the device. */
		KUNIT_EXPECT_EQ(test, kref_read(&adev_to_drm(d->adev)->ref),
				d->drm_refs + 1);
		dma_fence_signal(foreign);
		KUNIT_EXPECT_TRUE(test, uq_reaches(d, e.va, e.value));
		goto out;
	}

	/* Until the end of the case, which the thread ends before. */
	ev = kunit_kzalloc(test, sizeof(*ev), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ev);
	ev->mgr = q->userq_mgr;
	init_completion(&ev->done);
	thread = kthread_run(uq_evict_thread, ev, "uq-test-evict");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, thread);

	if (c->teardown == UQ_EVICT_THEN_WAIT) {
		/* The eviction waits for the queue's last fence. */
		KUNIT_EXPECT_TRUE(test, uq_blocked(thread));
		struct uq_wait w2 = {};

		uq_wait_on(test, d, &w2, uq_fence(test));
		KUNIT_EXPECT_EQ(test, uq_wait_ioctl(test, d, qid, &w2, false),
				0);
	}
	uq_complete(q, 1);
	KUNIT_EXPECT_TRUE(test, uq_armed(q));
	uq_timeout(q);
	KUNIT_EXPECT_EQ(test, fence->error, -ECANCELED);
	if (!wait_for_completion_timeout(&ev->done,
					 msecs_to_jiffies(UQ_WAIT_MS))) {
		KUNIT_FAIL(test, "eviction did not end after the hang timeout");
		amdgpu_userq_fence_driver_force_completion(q);
		wait_for_completion(&ev->done);
	}
	KUNIT_EXPECT_EQ(test, q->state, AMDGPU_USERQ_STATE_UNMAPPED);
	dma_fence_signal(foreign);
	KUNIT_EXPECT_TRUE(test, uq_reaches(d, e.va, e.value));
out:
	dma_fence_put(earlier);
	dma_fence_put(fence);
}

/*
 * out_fences faults after the timeline advanced: the ioctl returns -EFAULT,
 * the points stay on the timeline and signal, and the next call's entry
 * covers them.
 */
static void test_copy_to_user_fault(struct kunit *test)
{
	struct uq_test *t = test->priv;
	struct uq_dev *d = &t->dev[0];
	struct amdgpu_usermode_queue *q;
	struct dma_fence *f1, *f2;
	struct uq_points pts;
	struct uq_wait w = {};
	u32 qid;

	q = uq_queue(test, d, &qid);
	f1 = uq_fence(test);
	uq_wait_on(test, d, &w, f1);
	KUNIT_EXPECT_EQ(test, uq_wait_ioctl(test, d, qid, &w, true), -EFAULT);
	KUNIT_EXPECT_EQ(test, q->wait_seqno, 1);

	memset(&w, 0, sizeof(w));
	f2 = uq_fence(test);
	uq_wait_on(test, d, &w, f2);
	KUNIT_ASSERT_EQ(test, uq_wait_ioctl(test, d, qid, &w, false), 0);
	KUNIT_ASSERT_EQ(test, w.num_out, 1);
	KUNIT_EXPECT_EQ(test, w.out[0].value, 2);

	uq_points_get(test, q, &pts);
	dma_fence_signal(f2);
	uq_points_settle(&pts);
	KUNIT_EXPECT_LT(test, uq_read(d, w.out[0].va), 1);
	dma_fence_signal(f1);
	KUNIT_EXPECT_TRUE(test, uq_reaches(d, w.out[0].va, 2));
	uq_points_put(&pts);
}

static struct kunit_case amdgpu_userq_wait_cases[] = {
	KUNIT_CASE_PARAM(test_foreign_one_entry, uq_order_gen_params),
	KUNIT_CASE(test_calls_share_timeline),
	KUNIT_CASE_PARAM(test_inputs, uq_input_gen_params),
	KUNIT_CASE_PARAM(test_cycle, uq_cycle_gen_params),
	KUNIT_CASE(test_grace),
	KUNIT_CASE(test_timer_emit_during_irq),
	KUNIT_CASE(test_without_flag),
	KUNIT_CASE_PARAM(test_fallback, uq_fallback_gen_params),
	KUNIT_CASE(test_fallback_allocations),
	KUNIT_CASE_PARAM(test_teardown, uq_teardown_gen_params),
	KUNIT_CASE(test_copy_to_user_fault),
	{}
};

static struct kunit_suite amdgpu_userq_wait_suite = {
	.name = "amdgpu-userq-wait",
	.init = uq_test_init,
	.exit = uq_test_exit,
	.test_cases = amdgpu_userq_wait_cases,
};

kunit_test_suite(amdgpu_userq_wait_suite);
