/* The service-account JWT assertion (RFC 7523), signed RS256 with OpenSSL's
 * EVP interface, as Google's token endpoint expects it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

/* Read-only is all gsread needs; asking for less limits a leaked token. */
#define SCOPE "https://www.googleapis.com/auth/devstorage.read_only"
#define LIFETIME 3600 /* the most Google accepts */

char *gsr__base64url(const unsigned char *p, size_t n) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *out = gsr__malloc(n / 3 * 4 + 5), *o = out;
  if (out == NULL) return NULL;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = tab[v >> 18 & 63];
    *o++ = tab[v >> 12 & 63];
    *o++ = tab[v >> 6 & 63];
    *o++ = tab[v & 63];
  }
  if (i < n) { /* 1 or 2 bytes left; no '=' padding in JWTs */
    uint32_t v = (uint32_t)p[i] << 16 |
                 (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    *o++ = tab[v >> 18 & 63];
    *o++ = tab[v >> 12 & 63];
    if (i + 1 < n) *o++ = tab[v >> 6 & 63];
  }
  *o = '\0';
  return out;
}

static char *b64_str(const char *s) {
  return gsr__base64url((const unsigned char *)s, strlen(s));
}

/* A JSON string literal body: the inputs (e-mail, key id, URI) come from
 * the key file, so quote what JSON needs quoted. */
static void json_escape(char *dst, size_t n, const char *s) {
  size_t k = 0;
  for (; *s != '\0' && k + 7 < n; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      dst[k++] = '\\';
      dst[k++] = (char)c;
    } else if (c < 0x20) {
      k += (size_t)snprintf(dst + k, n - k, "\\u%04x", c);
    } else {
      dst[k++] = (char)c;
    }
  }
  dst[k] = '\0';
}

/* Signs data with the PEM key; *sig allocated. */
static int sign_rs256(const struct gsr__creds *c, const char *data,
                      unsigned char **sig, size_t *sig_len) {
  int status = GSR_OK;
  EVP_PKEY *key = NULL;
  EVP_MD_CTX *md = NULL;
  BIO *bio = BIO_new_mem_buf(c->private_key, -1);
  *sig = NULL;
  if (bio == NULL) return gsr__err(GSR_ENOMEM, "out of memory");
  key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    status = gsr__err(GSR_EAUTH,
                      "credentials file '%s': \"private_key\" is "
                      "not a PEM RSA private key",
                      c->path);
    goto done;
  }
  md = EVP_MD_CTX_new();
  size_t n = 0;
  if (md == NULL ||
      EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
      EVP_DigestSign(md, NULL, &n, (const unsigned char *)data, strlen(data)) !=
          1 ||
      (*sig = gsr__malloc(n)) == NULL ||
      EVP_DigestSign(md, *sig, &n, (const unsigned char *)data, strlen(data)) !=
          1) {
    status = gsr__err(GSR_EAUTH,
                      "credentials file '%s': signing the token "
                      "request failed",
                      c->path);
    gsr__free(*sig);
    *sig = NULL;
    goto done;
  }
  *sig_len = n;
done:
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
  BIO_free(bio);
  return status;
}

int gsr__jwt_assertion(const struct gsr__creds *c, const char *aud, int64_t now,
                       char **out) {
  char kid[256], iss[512], audq[1024], buf[2048];
  *out = NULL;
  json_escape(kid, sizeof(kid), c->private_key_id ? c->private_key_id : "");
  json_escape(iss, sizeof(iss), c->client_email);
  json_escape(audq, sizeof(audq), aud);
  if (c->private_key_id != NULL)
    snprintf(buf, sizeof(buf),
             "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
  else
    snprintf(buf, sizeof(buf), "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
  char *h = b64_str(buf);
  snprintf(buf, sizeof(buf),
           "{\"iss\":\"%s\",\"scope\":\"" SCOPE "\",\"aud\":\"%s\","
           "\"iat\":%lld,\"exp\":%lld}",
           iss, audq, (long long)now, (long long)(now + LIFETIME));
  char *p = b64_str(buf);
  char *signing = NULL, *s64 = NULL;
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  int status = GSR_OK;
  if (h == NULL || p == NULL ||
      (signing = gsr__malloc(strlen(h) + strlen(p) + 2)) == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto done;
  }
  sprintf(signing, "%s.%s", h, p);
  if ((status = sign_rs256(c, signing, &sig, &sig_len)) != GSR_OK) goto done;
  if ((s64 = gsr__base64url(sig, sig_len)) == NULL ||
      (*out = gsr__malloc(strlen(signing) + strlen(s64) + 2)) == NULL) {
    status = gsr__err(GSR_ENOMEM, "out of memory");
    goto done;
  }
  sprintf(*out, "%s.%s", signing, s64);
done:
  gsr__free(h);
  gsr__free(p);
  gsr__free(signing);
  gsr__free(sig);
  gsr__free(s64);
  return status;
}
