/* test_push_frame.c -- shared WebSocket frames: headers for every length class, decoded by a real wslay client */
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "buf.h"
#include "hub.h"
#include "tw_test.h"

struct feed {
	const unsigned char *data;
	size_t len, off, chunk;
	unsigned char *msg;
	size_t msg_len;
	int opcode, count;
};

static ssize_t feed_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
			 void *user)
{
	struct feed *f = user;
	size_t n = f->len - f->off;

	if (n == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (n > len)
		n = len;
	if (n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->data + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

static ssize_t feed_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
			 void *user)
{
	return (ssize_t)len;
}

static int feed_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	memset(buf, 0, len);
	return 0;
}

static void feed_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
		     void *user)
{
	struct feed *f = user;

	f->count++;
	f->opcode = arg->opcode;
	f->msg = malloc(arg->msg_length + 1);
	if (arg->msg_length)
		memcpy(f->msg, arg->msg, arg->msg_length);
	f->msg_len = arg->msg_length;
}

/* Decodes o with a wslay client fed chunk bytes at a time; returns 1 when
 * exactly one text message equal to payload came out. */
static int decodes_to(const struct tw_obuf *o, const char *payload, size_t len, size_t chunk)
{
	struct wslay_event_callbacks cbs = { .recv_callback = feed_recv, .send_callback = feed_send,
					     .genmask_callback = feed_genmask,
					     .on_msg_recv_callback = feed_msg };
	struct feed f = { .data = o->data, .len = o->len, .chunk = chunk };
	wslay_event_context_ptr ctx;
	int ok;

	if (wslay_event_context_client_init(&ctx, &cbs, &f) != 0)
		return 0;
	/* wslay returns after a short read, as it would on a socket: call again. */
	for (size_t before = (size_t)-1; f.off != before && f.off < f.len;) {
		before = f.off;
		wslay_event_recv(ctx);
	}
	ok = f.count == 1 && f.opcode == WSLAY_TEXT_FRAME && f.msg_len == len &&
	     memcmp(f.msg, payload, len) == 0;
	free(f.msg);
	wslay_event_context_free(ctx);
	return ok;
}

static void test_length_classes(void)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70001 };
	static const size_t hdr[] = { 2, 2, 2, 4, 4, 4, 10, 10 };
	char *payload = malloc(70001);
	int bad = 0;

	for (size_t i = 0; i < 70001; i++)
		payload[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct tw_obuf *o = tw_ws_frame_text(payload, lens[i]);

		if (!o || o->len != hdr[i] + lens[i] || o->data[0] != 0x81 || (o->data[1] & 0x80) ||
		    !decodes_to(o, payload, lens[i], 1 << 20) || !decodes_to(o, payload, lens[i], 7)) {
			fprintf(stderr, "  frame of %zu bytes is wrong\n", lens[i]);
			bad++;
		}
		tw_obuf_unref(o);
	}
	TW_CHECK_INT(bad, 0);
	free(payload);
}

static void test_one_byte_at_a_time(void)
{
	struct tw_obuf *o = tw_ws_frame_text("{\"type\":6}\x1e", 11);

	TW_CHECK(decodes_to(o, "{\"type\":6}\x1e", 11, 1));
	tw_obuf_unref(o);
}

static void test_refcount(void)
{
	struct tw_obuf *o = tw_obuf_new(4);

	TW_CHECK_INT(o->refs, 1);
	tw_obuf_ref(o);
	tw_obuf_ref(o);
	TW_CHECK_INT(o->refs, 3);
	tw_obuf_unref(o);
	tw_obuf_unref(o);
	TW_CHECK_INT(o->refs, 1);
	tw_obuf_unref(o); /* freed: LSan would report a leak otherwise */
	tw_obuf_unref(NULL);
}

int main(void)
{
	TW_RUN(test_length_classes);
	TW_RUN(test_one_byte_at_a_time);
	TW_RUN(test_refcount);
	return TW_TEST_END();
}
