/* fa-png.c: PNG files for masks and frames.
 *
 * libpng reports errors by longjmp. The functions that call setjmp hold
 * no g_autoptr and keep everything they allocate after the setjmp in a
 * struct they were handed, so the jump back neither skips a cleanup nor
 * reads a clobbered local. Reading works on a mapped copy of the file and
 * writing on a memory buffer, so file handling stays outside the jumps.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-png"

#include "fa-png.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>
#include <unistd.h>

#include "fa-error.h"
#include "fa-file.h"

/* Far above any working size; keeps width × height × 4 well inside gsize
 * and stops a forged header from asking for gigabytes. */
#define MAX_SIDE 16384

static const char png_signature[8] = { (char) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

/* ---- reading ---- */

typedef struct {
  const guint8 *data;
  gsize length, offset;
  gboolean truncated;
  char message[256];
  char warning[256]; /* the first; libpng often says what is wrong only there */
  /* allocated after the setjmp, freed by whoever reaches the end */
  png_bytep *rows;
  guint8 *pixels;
  int width, height, channels; /* 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; 8 bits each */
} PngReader;

static void
on_png_error (png_structp png, png_const_charp message)
{
  PngReader *reader = png_get_error_ptr (png);

  g_strlcpy (reader->message, message, sizeof reader->message);
  png_longjmp (png, 1);
}

/* Mostly benign (an unknown chunk, a bad gamma value: the pixels are
 * still right), so not shown; but a fatal "Invalid IHDR data" comes after
 * a warning that says which field, so the first one is kept for the
 * error message. */
static void
on_png_warning (png_structp png, png_const_charp message)
{
  PngReader *reader = png_get_error_ptr (png);

  if (reader->warning[0] == '\0')
    g_strlcpy (reader->warning, message, sizeof reader->warning);
}

static void
on_png_write_warning (png_structp png, png_const_charp message)
{
}

static void
read_from_memory (png_structp png, png_bytep out, png_size_t length)
{
  PngReader *reader = png_get_io_ptr (png);

  if (length > reader->length - reader->offset)
    {
      reader->truncated = TRUE;
      png_error (png, "the file ends early");
    }
  memcpy (out, reader->data + reader->offset, length);
  reader->offset += length;
}

/* Decodes to 8 bits per channel with libpng's transforms: palettes become
 * RGB, low-bit grey 8-bit, tRNS an alpha channel, 16 bits are scaled to 8,
 * interlacing is undone. On failure reader->message says why. */
static gboolean
decode_png (PngReader *reader)
{
  png_structp png = png_create_read_struct (PNG_LIBPNG_VER_STRING, reader, on_png_error, on_png_warning);
  png_infop info = png != NULL ? png_create_info_struct (png) : NULL;

  if (info == NULL)
    {
      g_strlcpy (reader->message, "out of memory", sizeof reader->message);
      png_destroy_read_struct (png != NULL ? &png : NULL, NULL, NULL);
      return FALSE;
    }
  if (setjmp (png_jmpbuf (png)))
    {
      png_destroy_read_struct (&png, &info, NULL);
      g_clear_pointer (&reader->rows, g_free);
      g_clear_pointer (&reader->pixels, g_free);
      return FALSE;
    }

  png_set_read_fn (png, reader, read_from_memory);
  png_set_user_limits (png, MAX_SIDE, MAX_SIDE);
  png_read_info (png, info);

  png_set_expand (png);
  png_set_scale_16 (png);
  png_set_interlace_handling (png);
  png_read_update_info (png, info);

  reader->width = (int) png_get_image_width (png, info);
  reader->height = (int) png_get_image_height (png, info);
  reader->channels = png_get_channels (png, info);
  if (png_get_bit_depth (png, info) != 8 || reader->channels < 1 || reader->channels > 4 ||
      png_get_rowbytes (png, info) != (gsize) reader->width * (gsize) reader->channels)
    png_error (png, "unsupported pixel layout");

  gsize stride = (gsize) reader->width * (gsize) reader->channels;
  reader->pixels = g_try_malloc (stride * (gsize) reader->height);
  reader->rows = g_try_new (png_bytep, reader->height);
  if (reader->pixels == NULL || reader->rows == NULL)
    png_error (png, "out of memory");
  for (int y = 0; y < reader->height; y++)
    reader->rows[y] = reader->pixels + (gsize) y * stride;
  png_read_image (png, reader->rows);
  /* reaches IEND, so that a file cut short after the pixels is noticed too */
  png_read_end (png, NULL);

  png_destroy_read_struct (&png, &info, NULL);
  g_clear_pointer (&reader->rows, g_free);
  return TRUE;
}

guint8 *
fa_png_decode (const guint8 *data, gsize length, const char *what, int *width, int *height, int *channels,
               GError **error)
{
  g_return_val_if_fail (what != NULL && width != NULL && height != NULL && channels != NULL, NULL);

  PngReader reader = { .data = data, .length = length };
  if (data == NULL || length == 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: the file is empty, not a PNG", what);
      return NULL;
    }
  if (length < sizeof png_signature || memcmp (data, png_signature, sizeof png_signature) != 0)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: not a PNG file (no PNG signature)", what);
      return NULL;
    }
  if (!decode_png (&reader))
    {
      if (reader.truncated)
        g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: the PNG is truncated (%s)", what, reader.message);
      else
        g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: corrupt PNG: %s%s%s%s", what, reader.message,
                     reader.warning[0] ? " (" : "", reader.warning, reader.warning[0] ? ")" : "");
      return NULL;
    }
  /* libpng refuses these in IHDR already; kept for the contract's sake */
  if (reader.width <= 0 || reader.height <= 0)
    {
      g_free (reader.pixels);
      g_set_error (error, FA_ERROR, FA_ERROR_CORRUPT_FILE, "%s: the image is %d×%d", what, reader.width,
                   reader.height);
      return NULL;
    }
  *width = reader.width;
  *height = reader.height;
  *channels = reader.channels;
  return reader.pixels;
}

/* The pixels of @path (8-bit, 1–4 channels), or NULL with an error naming
 * the file. */
static guint8 *
load_png (const char *path, int *width, int *height, int *channels, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GMappedFile) file = g_mapped_file_new (path, FALSE, &local_error);

  if (file == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_set_error (error, FA_ERROR, FA_ERROR_NOT_FOUND, "%s: no such file", path);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: cannot read: %s", path, local_error->message);
      return NULL;
    }
  return fa_png_decode ((const guint8 *) g_mapped_file_get_contents (file), g_mapped_file_get_length (file), path,
                        width, height, channels, error);
}

guint8 *
fa_png_load_alpha (const char *path, int *width, int *height, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (width != NULL && height != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  int w, h, channels;
  g_autofree guint8 *pixels = load_png (path, &w, &h, &channels, error);
  if (pixels == NULL)
    return NULL;

  gsize n = (gsize) w * (gsize) h;
  guint8 *alpha = channels == 1 ? g_steal_pointer (&pixels) : g_malloc (n);
  if (channels == 2 || channels == 4)
    for (gsize i = 0; i < n; i++)
      alpha[i] = pixels[i * channels + channels - 1];
  else if (channels == 3)
    for (gsize i = 0; i < n; i++)
      {
        /* BT.601 luma, rounded */
        const guint8 *p = pixels + i * 3;
        alpha[i] = (guint8) ((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
      }
  *width = w;
  *height = h;
  return alpha;
}

guint8 *
fa_png_load_rgb (const char *path, int *width, int *height, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (width != NULL && height != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  int w, h, channels;
  g_autofree guint8 *pixels = load_png (path, &w, &h, &channels, error);
  if (pixels == NULL)
    return NULL;

  gsize n = (gsize) w * (gsize) h;
  guint8 *rgb = channels == 3 ? g_steal_pointer (&pixels) : g_malloc (n * 3);
  if (channels != 3)
    for (gsize i = 0; i < n; i++)
      {
        const guint8 *p = pixels + i * channels;
        gboolean grey = channels < 3;
        rgb[i * 3 + 0] = p[0];
        rgb[i * 3 + 1] = grey ? p[0] : p[1];
        rgb[i * 3 + 2] = grey ? p[0] : p[2];
      }
  *width = w;
  *height = h;
  return rgb;
}

/* ---- writing ---- */

typedef struct {
  GByteArray *bytes;
  char message[256];
  png_bytep *rows;
} PngWriter;

static void
on_png_write_error (png_structp png, png_const_charp message)
{
  PngWriter *writer = png_get_error_ptr (png);

  g_strlcpy (writer->message, message, sizeof writer->message);
  png_longjmp (png, 1);
}

static void
write_to_memory (png_structp png, png_bytep data, png_size_t length)
{
  PngWriter *writer = png_get_io_ptr (png);

  g_byte_array_append (writer->bytes, data, (guint) length);
}

static void
flush_nothing (png_structp png)
{
}

static gboolean
encode_png (PngWriter *writer, const guint8 *pixels, int width, int height, int channels)
{
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, writer, on_png_write_error, on_png_write_warning);
  png_infop info = png != NULL ? png_create_info_struct (png) : NULL;

  if (info == NULL)
    {
      g_strlcpy (writer->message, "out of memory", sizeof writer->message);
      png_destroy_write_struct (png != NULL ? &png : NULL, NULL);
      return FALSE;
    }
  if (setjmp (png_jmpbuf (png)))
    {
      png_destroy_write_struct (&png, &info);
      g_clear_pointer (&writer->rows, g_free);
      return FALSE;
    }

  png_set_write_fn (png, writer, write_to_memory, flush_nothing);
  png_set_IHDR (png, info, (png_uint_32) width, (png_uint_32) height, 8,
                channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  /* masks and synthetic frames are written by the hundred; zlib's level 3
   * is several times faster than its default for a few percent of size */
  png_set_compression_level (png, 3);
  png_write_info (png, info);

  gsize stride = (gsize) width * (gsize) channels;
  writer->rows = g_new (png_bytep, height);
  for (int y = 0; y < height; y++)
    writer->rows[y] = (png_bytep) (pixels + (gsize) y * stride);
  png_write_image (png, writer->rows);
  png_write_end (png, NULL);

  png_destroy_write_struct (&png, &info);
  g_clear_pointer (&writer->rows, g_free);
  return TRUE;
}

GBytes *
fa_png_encode (const guint8 *pixels, int width, int height, int channels, const char *what, GError **error)
{
  g_return_val_if_fail (what != NULL, NULL);

  if (pixels == NULL || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "%s: cannot save a %d×%d image%s; sides must lie in [1, %d]", what, width, height,
                   pixels == NULL ? " without pixels" : "", MAX_SIDE);
      return NULL;
    }
  if (channels != 1 && channels != 3)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "%s: cannot save %d channels; a PNG is written from 1 (grey) or 3 (RGB)", what, channels);
      return NULL;
    }

  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  PngWriter writer = { .bytes = bytes };
  if (!encode_png (&writer, pixels, width, height, channels))
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "%s: cannot encode the PNG: %s", what,
                   writer.message);
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
}

gboolean
fa_png_save (const char *path, const guint8 *pixels, int width, int height, int channels, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_autoptr (GBytes) bytes = fa_png_encode (pixels, width, height, channels, path, error);
  if (bytes == NULL)
    return FALSE;

  g_autofree char *dir = g_path_get_dirname (path);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: the folder %s does not exist", path, dir);
      return FALSE;
    }

  /* hidden, so a file browser does not show it for the moment it lives */
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp_path = g_strdup_printf ("%s%c.%s.tmp-XXXXXX", dir, G_DIR_SEPARATOR, base);
  int fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot create a temporary file beside it");
      return FALSE;
    }

  gsize size = 0;
  gconstpointer data = g_bytes_get_data (bytes, &size);
  gboolean ok = fa_file_write_all (fd, data, size, tmp_path, error);
  return fa_file_commit_temp (fd, tmp_path, path, ok, error);
}
