/* Credential files: a service-account key or an authorized_user file (both
 * are what $GOOGLE_APPLICATION_CREDENTIALS or gcloud's ADC file may hold).
 *
 * Messages name the file and the missing or bad field, never a value: the
 * values are secrets or sit next to them.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

#define MAX_FILE (1024 * 1024) /* key files are ~2.4 KB */
#define DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"

void gsr__creds_clear(struct gsr__creds *c) {
  char **secrets[] = {&c->private_key, &c->client_secret, &c->refresh_token};
  /* Scrub secrets before freeing so they do not linger in freed memory. */
  for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
    if (*secrets[i] != NULL) memset(*secrets[i], 0, strlen(*secrets[i]));
  gsr__free(c->path);
  gsr__free(c->client_email);
  gsr__free(c->private_key);
  gsr__free(c->private_key_id);
  gsr__free(c->token_uri);
  gsr__free(c->client_id);
  gsr__free(c->client_secret);
  gsr__free(c->refresh_token);
  memset(c, 0, sizeof(*c));
}

/* Reads the whole file; NULL and *status set on failure. */
static char *slurp(const char *path, size_t *len, int *status) {
  FILE *fp = gsr__fopen_read(path);
  if (fp == NULL) {
    *status = gsr__err(GSR_EAUTH, "credentials file '%s': %s", path,
                       errno == EINVAL ? "not a regular file"
                                       : gsr__errno_text(errno));
    return NULL;
  }
  char *buf = gsr__malloc(MAX_FILE + 1);
  if (buf == NULL) {
    fclose(fp);
    *status = gsr__err(GSR_ENOMEM, "out of memory");
    return NULL;
  }
  size_t n = fread(buf, 1, MAX_FILE + 1, fp);
  int bad = ferror(fp);
  fclose(fp);
  if (bad || n > MAX_FILE) {
    gsr__free(buf);
    *status = gsr__err(GSR_EAUTH, "credentials file '%s': %s", path,
                       bad ? "read error" : "larger than 1 MiB");
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* A copy of string field key, NULL if absent (*oom set on ENOMEM). */
static char *field(struct json_object *root, const char *key, int *oom) {
  struct json_object *v;
  if (!json_object_object_get_ex(root, key, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  const char *s = json_object_get_string(v);
  if (s[0] == '\0') return NULL;
  char *copy = gsr__strdup(s);
  if (copy == NULL) *oom = 1;
  return copy;
}

int gsr__creds_load(const char *path, struct gsr__creds *out) {
  int status = GSR_OK, oom = 0;
  size_t len = 0;
  memset(out, 0, sizeof(*out));
  char *text = slurp(path, &len, &status);
  if (text == NULL) return status;
  struct json_tokener *tok = json_tokener_new();
  struct json_object *root = NULL;
  if (tok == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto done;
  }
  root = json_tokener_parse_ex(tok, text, (int)len);
  if (root == NULL || !json_object_is_type(root, json_type_object)) {
    status = gsr__err(GSR_EAUTH, "credentials file '%s': not a JSON object",
                      path);
    goto done;
  }
  char *type = field(root, "type", &oom);
  if ((out->path = gsr__strdup(path)) == NULL) oom = 1;
  const char *missing = NULL;
  if (type == NULL) {
    missing = "type";
  } else if (strcmp(type, "service_account") == 0) {
    out->kind = GSR__AUTH_SERVICE_ACCOUNT;
    out->client_email = field(root, "client_email", &oom);
    out->private_key = field(root, "private_key", &oom);
    out->private_key_id = field(root, "private_key_id", &oom);
    out->token_uri = field(root, "token_uri", &oom);
    if (out->client_email == NULL)
      missing = "client_email";
    else if (out->private_key == NULL)
      missing = "private_key";
  } else if (strcmp(type, "authorized_user") == 0) {
    out->kind = GSR__AUTH_USER;
    out->client_id = field(root, "client_id", &oom);
    out->client_secret = field(root, "client_secret", &oom);
    out->refresh_token = field(root, "refresh_token", &oom);
    out->token_uri = field(root, "token_uri", &oom);
    if (out->client_id == NULL)
      missing = "client_id";
    else if (out->client_secret == NULL)
      missing = "client_secret";
    else if (out->refresh_token == NULL)
      missing = "refresh_token";
  } else {
    /* The type is a short keyword, not a secret: naming it helps. */
    status = gsr__err(GSR_EAUTH,
                      "credentials file '%s': type \"%.40s\" is "
                      "not supported (service_account, authorized_user)",
                      path, type);
  }
  gsr__free(type);
  if (oom) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
  } else if (status == GSR_OK && missing != NULL) {
    status = gsr__err(GSR_EAUTH, "credentials file '%s': no \"%s\" field", path,
                      missing);
  } else if (status == GSR_OK && out->token_uri == NULL) {
    if ((out->token_uri = gsr__strdup(DEFAULT_TOKEN_URI)) == NULL)
      status = gsr__err(GSR_ENOMEM, "out of memory");
  }
done:
  json_object_put(root);
  if (tok) json_tokener_free(tok);
  memset(text, 0, len); /* the file holds secrets */
  gsr__free(text);
  if (status != GSR_OK) gsr__creds_clear(out);
  return status;
}
