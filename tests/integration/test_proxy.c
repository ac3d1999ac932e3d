/* Reads through a real HTTPS proxy: Debian's tinyproxy, started here on
 * 127.0.0.1, in front of the TLS server, named by $https_proxy as a user
 * would. libcurl tunnels with CONNECT; the proxy's "200 Connection
 * established" must not be taken for the object's response (every ranged
 * read failed with "server ignored the Range header (status 200)").
 *
 * SPDX-License-Identifier: MIT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "gsread.h"

static unsigned char *data;
#define SIZE (3 * 1024 * 1024 + 17)

static pid_t proxy_pid = -1;
static char proxy_dir[] = "/tmp/gsread-proxy-XXXXXX";
static char proxy_log[300];

/* A port free now on 127.0.0.1 (the proxy binds it a moment later). */
static int free_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      getsockname(s, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (s >= 0) close(s);
  return port;
}

static int port_open(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
  if (s >= 0) close(s);
  return ok;
}

static void stop_proxy(void) {
  if (proxy_pid > 0) {
    kill(proxy_pid, SIGTERM);
    waitpid(proxy_pid, NULL, 0);
    proxy_pid = -1;
  }
}

/* Starts tinyproxy in the foreground on a free port; its URL into url.
 * Returns 0, or -1 (and says why: the test fails, never skips). */
static int start_proxy(char *url, size_t n) {
  char conf[300];
  int port = free_port();
  if (port < 0 || mkdtemp(proxy_dir) == NULL) return -1;
  snprintf(conf, sizeof(conf), "%s/tinyproxy.conf", proxy_dir);
  snprintf(proxy_log, sizeof(proxy_log), "%s/tinyproxy.log", proxy_dir);
  FILE *f = fopen(conf, "w");
  if (f == NULL) return -1;
  /* No ConnectPort line: CONNECT to any port (the server's is random). */
  fprintf(f,
          "Port %d\nListen 127.0.0.1\nTimeout 60\nMaxClients 64\n"
          "Allow 127.0.0.1\nLogFile \"%s\"\nLogLevel Connect\n",
          port, proxy_log);
  fclose(f);
  proxy_pid = fork();
  if (proxy_pid == 0) {
    execlp("tinyproxy", "tinyproxy", "-d", "-c", conf, (char *)NULL);
    fprintf(stderr, "test_proxy: cannot run tinyproxy (scripts/install-deps.sh)"
                    "\n");
    _exit(127);
  }
  for (int i = 0; i < 500; i++) { /* up to 5 s */
    if (port_open(port)) {
      snprintf(url, n, "http://127.0.0.1:%d", port);
      return 0;
    }
    if (waitpid(proxy_pid, NULL, WNOHANG) == proxy_pid) break;
    usleep(10000);
  }
  fprintf(stderr, "test_proxy: tinyproxy did not start on port %d\n", port);
  return -1;
}

static struct ts_object objects[] = {{"obj", SIZE, NULL}};
const struct fx_spec fx_spec = {FX_OBJECTS(objects), .tls = 1,
                                .bucket = "proxy-bucket", .seed = 27,
                                .data = &data};

static int setup(void **state) {
  (void)state;
  char proxy[64];
  if (fx_setup(&fx_spec) != 0) return -1;
  if (start_proxy(proxy, sizeof(proxy)) != 0) return -1;
  /* What a user behind a proxy has; nothing bypasses it. */
  setenv("https_proxy", proxy, 1);
  setenv("HTTPS_PROXY", proxy, 1);
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  return 0;
}

static int teardown(void **state) {
  char cmd[400];
  stop_proxy();
  snprintf(cmd, sizeof(cmd), "rm -rf %s", proxy_dir);
  if (system(cmd) != 0) fprintf(stderr, "test_proxy: cannot remove %s\n", cmd);
  return fx_teardown(state);
}

/* Tunnels the proxy opened so far (its log's CONNECT lines). */
static int proxy_connects(void) {
  char line[1024];
  int n = 0;
  FILE *f = fopen(proxy_log, "r");
  if (f == NULL) return 0;
  while (fgets(line, sizeof(line), f) != NULL)
    n += strstr(line, "CONNECT") != NULL;
  fclose(f);
  return n;
}

static gsr_client *client(void) {
  gsr_client_options o;
  fx_client_options(&o);
  o.retry_max_attempts = 1;
  return fx_client(&o);
}

/* Reads the object whole (split in parts), a range inside it, and its
 * tail, each compared with its bytes. */
static void read_through_proxy(gsr_client *c, const char *url) {
  gsr_file_options fo;
  gsr_file f;
  unsigned char *buf = malloc(SIZE);
  gsr_file_options_init(&fo);
  fo.concurrency = 3;
  fo.min_part_size = 1024 * 1024;
  if (gsr_open(c, url, &fo, &f) != GSR_OK)
    fail_msg("open %s: %s", url, gsr_errmsg());
  int64_t n = gsr_pread(f, buf, SIZE, 0);
  if (n != SIZE) fail_msg("read %s: %s", url, gsr_errmsg());
  assert_memory_equal(buf, data, SIZE);
  assert_int_equal(gsr_pread(f, buf, 1000, 12345), 1000);
  assert_memory_equal(buf, data + 12345, 1000);
  assert_int_equal(gsr_pread(f, buf, 100, SIZE - 17), 17);
  assert_memory_equal(buf, data + SIZE - 17, 17);
  gsr_close(f);
  free(buf);
}

static void test_reads_through_https_proxy(void **state) {
  (void)state;
  char url[512];
  int before = proxy_connects();
  gsr_client *c = client();
  read_through_proxy(c, "gs://proxy-bucket/obj");
  ts_http_url(&fx.srv, "proxy-bucket", "obj", url, sizeof(url));
  read_through_proxy(c, url);
  gsr_client_free(c);
  /* Through the proxy, not around it. */
  if (proxy_connects() <= before)
    fail_msg("the proxy's log shows no CONNECT: it was bypassed");
}

/* gsr_sendfile through the engine, through the proxy. */
static void test_sendfile_through_https_proxy(void **state) {
  (void)state;
  gsr_client *c = client();
  gsr_file f;
  assert_int_equal(gsr_open(c, "gs://proxy-bucket/obj", NULL, &f), GSR_OK);
  fx_check_sendfile(f, &objects[0]);
  gsr_close(f);
  gsr_client_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_through_https_proxy),
      cmocka_unit_test(test_sendfile_through_https_proxy),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
