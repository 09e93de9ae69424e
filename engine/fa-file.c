/* fa-file.c: replacing files whole or not at all.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-file"

#include "config.h"

#include "fa-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

void
fa_file_set_io_error (GError **error, int saved_errno, const char *path, const char *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s: %s%s%s", path,
               what != NULL ? what : "", what != NULL ? ": " : "", g_strerror (saved_errno));
}

gboolean
fa_file_write_all (int fd, const void *data, gsize size, const char *path, GError **error)
{
  const guint8 *p = data;

  while (size > 0)
    {
      /* Linux writes at most about 2 GiB per call anyway. */
      gssize written = write (fd, p, MIN (size, (gsize) 1 << 30));
      if (written < 0 && errno == EINTR)
        continue;
      if (written <= 0)
        {
          fa_file_set_io_error (error, written < 0 ? errno : ENOSPC, path, "cannot write");
          return FALSE;
        }
      p += written;
      size -= (gsize) written;
    }
  return TRUE;
}

gboolean
fa_file_commit_temp (int fd, const char *tmp_path, const char *path, gboolean ok, GError **error)
{
  /* without the fsync a crash after the rename could leave an empty file
   * under the final name */
  if (ok && fsync (fd) != 0)
    {
      fa_file_set_io_error (error, errno, tmp_path, "cannot sync");
      ok = FALSE;
    }
  if (close (fd) != 0 && ok)
    {
      fa_file_set_io_error (error, errno, tmp_path, "cannot close");
      ok = FALSE;
    }
  if (ok && g_rename (tmp_path, path) != 0)
    {
      fa_file_set_io_error (error, errno, path, "cannot replace");
      ok = FALSE;
    }
  if (!ok)
    {
      g_unlink (tmp_path);
      return FALSE;
    }
  fa_file_sync_folder (path);
  return TRUE;
}

void
fa_file_sync_folder (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int dir_fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (dir_fd >= 0)
    {
      fsync (dir_fd);
      close (dir_fd);
    }
}
