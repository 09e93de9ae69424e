/* st-test-util.h: what test-safetensors.c and test-weights.c share: the
 * sanitizer options, a fixture with a temporary folder (removed with all it
 * holds afterwards) and a CPU backend, ADD() to register a test that runs in
 * it, and writing a safetensors file byte by byte.
 *
 * Define ST_TEST_DIR_TEMPLATE (the g_dir_make_tmp() template, "…-XXXXXX")
 * before including this, once per test program.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "fa-backend.h"
#include "fa-test-util.h"

#ifndef ST_TEST_DIR_TEMPLATE
#error "define ST_TEST_DIR_TEMPLATE before including st-test-util.h"
#endif

/* In the sanitizer build, undefined behaviour (a misaligned load from the
 * mapping, an overflow in a size) fails the test instead of printing a
 * line that nobody reads. Unused elsewhere. */
const char *__ubsan_default_options (void);

const char *
__ubsan_default_options (void)
{
  return "halt_on_error=1:print_stacktrace=1";
}

typedef struct {
  char *dir;
  FaBackend *cpu;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  f->dir = g_dir_make_tmp (ST_TEST_DIR_TEMPLATE, &error);
  g_assert_no_error (error);
  f->cpu = fa_backend_new_cpu ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  fa_test_remove_tree (f->dir);
  g_free (f->dir);
  fa_backend_unref (f->cpu);
}

#define ADD(name, func) \
  g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

/* @dir/@name: the little-endian length of @header, @header as the JSON,
 * unpadded, then the @size bytes of @data. Returns the path. */
static char *
st_test_write_raw (const char *dir, const char *name, const char *header, const void *data,
                   gsize size)
{
  char *path = g_build_filename (dir, name, NULL);
  guint64 length_le = GUINT64_TO_LE ((guint64) strlen (header));
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  GError *error = NULL;

  g_byte_array_append (bytes, (const guint8 *) &length_le, 8);
  g_byte_array_append (bytes, (const guint8 *) header, (guint) strlen (header));
  g_byte_array_append (bytes, data, (guint) size);
  g_file_set_contents (path, (const char *) bytes->data, bytes->len, &error);
  g_assert_no_error (error);
  return path;
}
