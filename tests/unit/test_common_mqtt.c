/* test_common_mqtt.c -- tw_mqtt against a real mosquitto: connect late, publish, reconnect, resubscribe */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "telewire/error.h"
#include "telewire/log.h"
#include "telewire/mqtt.h"
#include "tw_test.h"

static int received;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static pid_t start_broker(int port)
{
	char conf[64], text[128];
	FILE *f;
	pid_t pid;

	snprintf(conf, sizeof(conf), "/tmp/tw-mqtt-test-%d.conf", port);
	/* A burst of 2000 QoS 1 messages to a subscriber that a loaded machine
	 * slows down: past mosquitto's default queue of 1000 it would drop some. */
	snprintf(text, sizeof(text), "listener %d 127.0.0.1\nallow_anonymous true\n"
		 "max_queued_messages 100000\n", port);
	f = fopen(conf, "w");
	fputs(text, f);
	fclose(f);
	pid = fork();
	if (pid == 0) {
		execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop_broker(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void on_message(void *ctx, const char *topic, const void *p, size_t len, int qos)
{
	pthread_mutex_lock(&lock);
	received++;
	pthread_mutex_unlock(&lock);
}

static int got(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = received;
	pthread_mutex_unlock(&lock);
	return n;
}

static int wait_received(int want, int ms)
{
	for (int i = 0; i < ms / 10 && got() < want; i++)
		usleep(10000);
	return got();
}

static int publish_n(struct tw_mqtt *m, int n)
{
	int sent = 0;

	while (sent < n) {
		int rc = tw_mqtt_publish(m, "t/x", "hello", 5, 1, 0);

		if (rc == TW_OK)
			sent++;
		else if (rc == TW_ERR_FULL)
			tw_mqtt_wait_room(m, 1000);
		else
			return sent;
	}
	return sent;
}

static void test_connect_late_publish_reconnect(void)
{
	int port = free_port();
	char uri[64];
	const char *subs[] = { "t/#" };
	struct tw_mqtt_config pc = { .client_id_prefix = "pub", .max_pending = 64 };
	struct tw_mqtt_config sc = { .client_id_prefix = "sub", .subscriptions = subs,
				     .nsubscriptions = 1, .sub_qos = 1, .on_message = on_message };
	struct tw_mqtt *pub, *sub;
	struct tw_mqtt_stats st;
	pid_t broker;

	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
	pc.uri = sc.uri = uri;
	TW_CHECK_INT(tw_mqtt_start(&pub, &pc), TW_OK);
	TW_CHECK_INT(tw_mqtt_start(&sub, &sc), TW_OK);
	/* No broker yet: publishing says "not connected", never blocks. */
	TW_CHECK_INT(tw_mqtt_publish(pub, "t/x", "a", 1, 1, 0), TW_ERR_AGAIN);
	TW_CHECK_INT(tw_mqtt_wait_connected(pub, 300), TW_ERR_AGAIN);

	broker = start_broker(port);
	TW_CHECK_INT(tw_mqtt_wait_connected(pub, 10000), TW_OK);
	TW_CHECK_INT(tw_mqtt_wait_connected(sub, 10000), TW_OK);
	usleep(200000); /* the subscription is acknowledged after the connect */
	TW_CHECK_INT(publish_n(pub, 2000), 2000);
	TW_CHECK_INT(tw_mqtt_drain(pub, 10000), TW_OK);
	TW_CHECK_INT(wait_received(2000, 10000), 2000);

	/* The broker restarts: both clients come back by themselves, and the
	 * subscriber's subscription is renewed. */
	stop_broker(broker);
	usleep(300000);
	broker = start_broker(port);
	TW_CHECK_INT(tw_mqtt_wait_connected(pub, 15000), TW_OK);
	TW_CHECK_INT(tw_mqtt_wait_connected(sub, 15000), TW_OK);
	usleep(300000);
	TW_CHECK_INT(publish_n(pub, 100), 100);
	TW_CHECK_INT(tw_mqtt_drain(pub, 10000), TW_OK);
	TW_CHECK_INT(wait_received(2100, 10000), 2100);

	tw_mqtt_get_stats(sub, &st);
	TW_CHECK_INT(st.connects, 2);
	TW_CHECK_INT(st.connection_lost, 1);
	tw_mqtt_get_stats(pub, &st);
	TW_CHECK_INT(st.published, 2100);
	TW_CHECK_INT(st.pending, 0);
	tw_mqtt_stop(pub, 1000);
	tw_mqtt_stop(sub, 1000);
	stop_broker(broker);
}

int main(void)
{
	tw_log_init("test", TW_LOG_WARN);
	TW_RUN(test_connect_late_publish_reconnect);
	return TW_TEST_END();
}
