/* libFuzzer target: any bytes as a .safetensors file. Opening must either
 * fail with a GError or give entries whose every byte can be read, viewed
 * and loaded; anything else (a crash, a sanitizer report, a critical
 * warning) is a bug.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fa-backend.h"
#include "fa-error.h"
#include "fa-safetensors.h"
#include "fa-weights.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The input lives in a memfd and is opened by its /proc path: the reader
 * gets a real file to map, and nothing touches the disk. */
static int input_fd = -1;
static char *input_path;
static FaBackend *cpu;

static void
set_up (void)
{
  input_fd = memfd_create ("fuzz-input.safetensors", MFD_CLOEXEC);
  if (input_fd < 0)
    abort ();
  input_path = g_strdup_printf ("/proc/self/fd/%d", input_fd);
  cpu = fa_backend_new_cpu ();
}

static void
write_input (const uint8_t *data, size_t size)
{
  if (ftruncate (input_fd, 0) != 0)
    abort ();
  for (size_t done = 0; done < size;)
    {
      ssize_t n = pwrite (input_fd, data + done, size - done, (off_t) done);
      if (n <= 0)
        abort ();
      done += (size_t) n;
    }
}

/* Reads every byte, so that the sanitizers see any entry that points past
 * what was mapped. */
static unsigned
touch (const void *data, size_t n)
{
  const volatile uint8_t *p = data;
  unsigned sum = 0;

  for (size_t i = 0; i < n; i++)
    sum += p[i];
  return sum;
}

static void
walk_file (FaSafetensors *file)
{
  guint n = fa_safetensors_get_n_tensors (file);

  (void) fa_safetensors_get_metadata (file, "format");
  for (guint i = 0; i < n; i++)
    {
      const FaSafetensorsEntry *entry = fa_safetensors_get_entry (file, i);
      g_autoptr (GError) error = NULL;

      if (fa_safetensors_lookup (file, entry->name) != entry)
        abort ();
      touch (entry->data, entry->nbytes);

      g_autoptr (FaTensor) view = fa_safetensors_view_tensor (file, entry, &error);
      if (view == NULL || fa_tensor_get_nbytes (view) != entry->nbytes)
        abort ();
    }
}

/* The loader converts from the mapping at whatever alignment the file
 * chose; every allowed conversion of every tensor must stay in bounds. */
static void
walk_weights (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (FaWeights) weights = fa_weights_open (input_path, &error);

  if (weights == NULL)
    abort (); /* the same bytes just opened */
  for (guint i = 0; i < fa_weights_get_n_tensors (weights); i++)
    {
      const FaSafetensorsEntry *entry = fa_weights_get_entry (weights, i);
      FaDType target = fa_dtype_is_float (entry->dtype) ? FA_DTYPE_F32 : entry->dtype;
      g_autoptr (GError) load_error = NULL;
      g_autoptr (FaTensor) t = fa_weights_load (weights, entry->name, cpu, target, &load_error);

      /* only memory can run out: the shape was checked against the data */
      if (t == NULL && !g_error_matches (load_error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY))
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (input_fd < 0)
    set_up ();
  write_input (data, size);

  g_autoptr (GError) error = NULL;
  g_autoptr (FaSafetensors) file = fa_safetensors_open (input_path, &error);
  if (file == NULL)
    {
      /* a failure must say what failed, and where */
      if (error == NULL || !g_str_has_prefix (error->message, input_path))
        abort ();
      return 0;
    }
  walk_file (file);
  walk_weights ();
  return 0;
}
