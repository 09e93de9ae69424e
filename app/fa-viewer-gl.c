/* fa-viewer-gl.c: the viewer's OpenGL path: a GtkGLArea that draws the
 * current frame (an RGB8 texture) and its mask (an R8 texture) through a
 * fragment shader computing the look, the same picture as
 * fa_viewer_render_rgba, and the result (a third texture, RGB8 at its own
 * size, stretched over the same rectangle) right of the split. Textures
 * are re-uploaded only when stale: the frame when the playhead moves, the
 * mask when it is painted, the result when another of its frames, another
 * result or a new live look is shown.
 *
 * The shaders are written once in the common subset of GLSL 1.50 (OpenGL
 * 3.2 core) and GLSL ES 3.00, and get the preamble of whichever API GDK
 * gave the context.
 * SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "fa-viewer"

#include "config.h"

#include <string.h>

#include <epoxy/gl.h>

#include "fa-viewer-private.h"

struct _FaViewerGl
{
  FaViewer    *viewer;      /* unowned: it owns us */
  GtkWidget   *area;        /* unowned: the viewer parents it */

  gboolean     ready;       /* the program is built in the current context */
  char        *failure;     /* why not, when not */
  const char  *description;

  GLuint       program;
  GLuint       vao;
  GLuint       vbo;
  GLuint       textures[3]; /* frame, mask, result */
  GLint        u_rect;
  GLint        u_viewport;
  GLint        u_look;
  GLint        u_tint;
  GLint        u_opacity;
  GLint        u_split;

  /* The size the textures were allocated at (0: not yet). */
  int          tex_width;
  int          tex_height;
  gboolean     frame_stale;
  gboolean     mask_stale;
  guint        frame_uploads;
  guint        mask_uploads;

  /* What the result texture holds (NULL: nothing yet). */
  const guint8 *result_pixels;
  guint        result_serial;
  int          result_width;
  int          result_height;
  guint        result_uploads;
};

static const char vertex_source[] =
  "uniform vec4 rect;      /* x0, y0, x1, y1 in widget pixels */\n"
  "uniform vec2 viewport;  /* widget size */\n"
  "in vec2 corner;\n"
  "out vec2 uv;\n"
  "void main () {\n"
  "  vec2 p = mix (rect.xy, rect.zw, corner);\n"
  "  uv = corner;\n"
  "  gl_Position = vec4 (p.x / viewport.x * 2.0 - 1.0, 1.0 - p.y / viewport.y * 2.0, 0.0, 1.0);\n"
  "}\n";

/* look: 0 tint, 1 outline, 2 hidden (FaMaskLook). The outline test reads
 * whole texels, as the CPU does; clamping the neighbours to the frame makes
 * the frame's border no edge, as there. The result is never tinted: the
 * mask belongs to the source. */
static const char fragment_source[] =
  "uniform sampler2D frame_tex;\n"
  "uniform sampler2D mask_tex;\n"
  "uniform sampler2D result_tex;\n"
  "uniform int look;\n"
  "uniform vec3 tint;\n"
  "uniform float opacity;\n"
  "uniform float split;  /* the result from this uv.x on; > 1: nowhere */\n"
  "in vec2 uv;\n"
  "out vec4 out_color;\n"
  "bool inside_at (ivec2 p, ivec2 size) {\n"
  "  p = clamp (p, ivec2 (0), size - 1);\n"
  "  return texelFetch (mask_tex, p, 0).r * 255.0 >= 127.5;\n"
  "}\n"
  "void main () {\n"
  "  if (uv.x >= split) {\n"
  "    out_color = vec4 (texture (result_tex, uv).rgb, 1.0);\n"
  "    return;\n"
  "  }\n"
  "  vec3 rgb = texture (frame_tex, uv).rgb;\n"
  "  if (look == 0) {\n"
  "    rgb = mix (rgb, tint, texture (mask_tex, uv).r * opacity);\n"
  "  } else if (look == 1) {\n"
  "    ivec2 size = textureSize (mask_tex, 0);\n"
  "    ivec2 p = clamp (ivec2 (floor (uv * vec2 (size))), ivec2 (0), size - 1);\n"
  "    bool c = inside_at (p, size);\n"
  "    if (inside_at (p + ivec2 (1, 0), size) != c || inside_at (p - ivec2 (1, 0), size) != c\n"
  "        || inside_at (p + ivec2 (0, 1), size) != c || inside_at (p - ivec2 (0, 1), size) != c)\n"
  "      rgb = tint;\n"
  "  }\n"
  "  out_color = vec4 (rgb, 1.0);\n"
  "}\n";

static const char desktop_preamble[] = "#version 150\n";
static const char es_preamble[] =
  "#version 300 es\n"
  "precision highp float;\n"
  "precision highp int;\n";

static GLuint
compile_shader (GLenum       type,
                const char  *preamble,
                const char  *source,
                char       **log)
{
  const char *sources[] = { preamble, source };
  GLuint shader = glCreateShader (type);
  GLint ok = GL_FALSE;

  glShaderSource (shader, G_N_ELEMENTS (sources), sources, NULL);
  glCompileShader (shader);
  glGetShaderiv (shader, GL_COMPILE_STATUS, &ok);
  if (!ok)
    {
      GLint length = 0;
      g_autofree char *text = NULL;

      glGetShaderiv (shader, GL_INFO_LOG_LENGTH, &length);
      text = g_malloc0 (MAX (length, 1) + 1);
      glGetShaderInfoLog (shader, length, NULL, text);
      *log = g_strdup_printf ("the %s shader did not compile: %s",
                              type == GL_VERTEX_SHADER ? "vertex" : "fragment", g_strstrip (text));
      glDeleteShader (shader);
      return 0;
    }
  return shader;
}

static gboolean
build_program (FaViewerGl  *gl,
               gboolean     use_es,
               char       **reason)
{
  static const float corners[] = { 0, 0, 1, 0, 0, 1, 1, 1 };
  const char *preamble = use_es ? es_preamble : desktop_preamble;
  GLuint vertex;
  GLuint fragment;
  GLint ok = GL_FALSE;

  vertex = compile_shader (GL_VERTEX_SHADER, preamble, vertex_source, reason);
  if (vertex == 0)
    return FALSE;
  fragment = compile_shader (GL_FRAGMENT_SHADER, preamble, fragment_source, reason);
  if (fragment == 0)
    {
      glDeleteShader (vertex);
      return FALSE;
    }

  gl->program = glCreateProgram ();
  glAttachShader (gl->program, vertex);
  glAttachShader (gl->program, fragment);
  glBindAttribLocation (gl->program, 0, "corner");
  glLinkProgram (gl->program);
  glDetachShader (gl->program, vertex);
  glDetachShader (gl->program, fragment);
  glDeleteShader (vertex);
  glDeleteShader (fragment);
  glGetProgramiv (gl->program, GL_LINK_STATUS, &ok);
  if (!ok)
    {
      GLint length = 0;
      g_autofree char *text = NULL;

      glGetProgramiv (gl->program, GL_INFO_LOG_LENGTH, &length);
      text = g_malloc0 (MAX (length, 1) + 1);
      glGetProgramInfoLog (gl->program, length, NULL, text);
      *reason = g_strdup_printf ("the shaders did not link: %s", g_strstrip (text));
      glDeleteProgram (gl->program);
      gl->program = 0;
      return FALSE;
    }

  gl->u_rect = glGetUniformLocation (gl->program, "rect");
  gl->u_viewport = glGetUniformLocation (gl->program, "viewport");
  gl->u_look = glGetUniformLocation (gl->program, "look");
  gl->u_tint = glGetUniformLocation (gl->program, "tint");
  gl->u_opacity = glGetUniformLocation (gl->program, "opacity");
  gl->u_split = glGetUniformLocation (gl->program, "split");
  glUseProgram (gl->program);
  glUniform1i (glGetUniformLocation (gl->program, "frame_tex"), 0);
  glUniform1i (glGetUniformLocation (gl->program, "mask_tex"), 1);
  glUniform1i (glGetUniformLocation (gl->program, "result_tex"), 2);
  glUseProgram (0);

  glGenVertexArrays (1, &gl->vao);
  glBindVertexArray (gl->vao);
  glGenBuffers (1, &gl->vbo);
  glBindBuffer (GL_ARRAY_BUFFER, gl->vbo);
  glBufferData (GL_ARRAY_BUFFER, sizeof corners, corners, GL_STATIC_DRAW);
  glEnableVertexAttribArray (0);
  glVertexAttribPointer (0, 2, GL_FLOAT, GL_FALSE, 0, NULL);
  glBindVertexArray (0);
  glBindBuffer (GL_ARRAY_BUFFER, 0);

  glGenTextures (G_N_ELEMENTS (gl->textures), gl->textures);
  gl->tex_width = gl->tex_height = 0;
  gl->frame_stale = gl->mask_stale = TRUE;
  gl->result_pixels = NULL;
  gl->result_width = gl->result_height = 0;
  return TRUE;
}

/* GtkGLArea 4.8 asks for desktop OpenGL only unless told to use ES, and
 * then for ES only; the shaders work with either, so GDK may pick
 * whichever the display has. */
static GdkGLContext *
on_area_create_context (GtkGLArea  *area,
                        FaViewerGl *gl)
{
  GtkNative *native = gtk_widget_get_native (GTK_WIDGET (area));
  g_autoptr (GdkGLContext) context = NULL;
  g_autoptr (GError) error = NULL;

  if (native == NULL)
    {
      error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "the viewer is in no window");
      gtk_gl_area_set_error (area, error);
      return NULL;
    }

  context = gdk_surface_create_gl_context (gtk_native_get_surface (native), &error);
  if (context == NULL)
    {
      gtk_gl_area_set_error (area, error);
      return NULL;
    }
  gdk_gl_context_set_allowed_apis (context, GDK_GL_API_GL | GDK_GL_API_GLES);
  if (!gdk_gl_context_realize (context, &error))
    {
      gtk_gl_area_set_error (area, error);
      return NULL;
    }
  return g_steal_pointer (&context);
}

static void
on_area_realize (GtkGLArea  *area,
                 FaViewerGl *gl)
{
  GdkGLContext *context;
  GError *error;
  char *reason = NULL;
  gboolean use_es;
  int major = 0;
  int minor = 0;

  g_clear_pointer (&gl->failure, g_free);
  gl->ready = FALSE;

  gtk_gl_area_make_current (area);
  error = gtk_gl_area_get_error (area);
  if (error != NULL)
    {
      gl->failure = g_strdup_printf ("no OpenGL context: %s", error->message);
      return;
    }

  context = gtk_gl_area_get_context (area);
  use_es = gdk_gl_context_get_api (context) == GDK_GL_API_GLES;
  gdk_gl_context_get_version (context, &major, &minor);
  if (use_es ? major < 3 : (major * 10 + minor < 32 || gdk_gl_context_is_legacy (context)))
    {
      gl->failure = g_strdup_printf ("the OpenGL%s context is version %d.%d%s, not 3.2 core or ES 3",
                                     use_es ? " ES" : "", major, minor,
                                     gdk_gl_context_is_legacy (context) ? " (legacy)" : "");
      return;
    }

  if (!build_program (gl, use_es, &reason))
    {
      g_autoptr (GError) build_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, reason);

      gl->failure = reason;
      gtk_gl_area_set_error (area, build_error);
      return;
    }

  gl->description = use_es ? "GLSL 300 es" : "GLSL 150";
  gl->ready = TRUE;
}

static void
on_area_unrealize (GtkGLArea  *area,
                   FaViewerGl *gl)
{
  if (!gl->ready)
    return;

  gtk_gl_area_make_current (area);
  if (gtk_gl_area_get_error (area) == NULL)
    {
      glDeleteTextures (G_N_ELEMENTS (gl->textures), gl->textures);
      glDeleteBuffers (1, &gl->vbo);
      glDeleteVertexArrays (1, &gl->vao);
      glDeleteProgram (gl->program);
    }
  memset (gl->textures, 0, sizeof gl->textures);
  gl->vbo = gl->vao = gl->program = 0;
  gl->tex_width = gl->tex_height = 0;
  gl->result_pixels = NULL;
  gl->result_width = gl->result_height = 0;
  gl->ready = FALSE;
}

static void
upload (GLuint        texture,
        GLenum        unit,
        gboolean      allocate,
        GLint         internal_format,
        GLenum        format,
        int           width,
        int           height,
        const guint8 *pixels)
{
  glActiveTexture (unit);
  glBindTexture (GL_TEXTURE_2D, texture);
  if (allocate)
    {
      glTexImage2D (GL_TEXTURE_2D, 0, internal_format, width, height, 0, format, GL_UNSIGNED_BYTE, pixels);
      glTexParameteri (GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
      glTexParameteri (GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    }
  else
    glTexSubImage2D (GL_TEXTURE_2D, 0, 0, 0, width, height, format, GL_UNSIGNED_BYTE, pixels);
}

static void
set_filter (GLuint texture,
            GLenum unit,
            GLint  filter)
{
  glActiveTexture (unit);
  glBindTexture (GL_TEXTURE_2D, texture);
  glTexParameteri (GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, filter);
  glTexParameteri (GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, filter);
}

/* The frame and mask textures, where stale. */
static void
upload_source (FaViewerGl   *gl,
               const guint8 *rgb,
               const guint8 *alpha,
               int           width,
               int           height)
{
  gboolean allocate = width != gl->tex_width || height != gl->tex_height;
  static const guint8 empty = 0;

  if (allocate || gl->frame_stale)
    {
      upload (gl->textures[0], GL_TEXTURE0, allocate, GL_RGB8, GL_RGB, width, height, rgb);
      gl->frame_uploads++;
    }
  if (allocate || gl->mask_stale)
    {
      /* A frame without a mask set still needs a texture the shader can
       * read: a cleared one. */
      g_autofree guint8 *zeros = alpha == NULL ? g_malloc0 ((gsize) width * height) : NULL;

      upload (gl->textures[1], GL_TEXTURE1, allocate, GL_R8, GL_RED, width, height,
              alpha != NULL ? alpha : zeros != NULL ? zeros : &empty);
      gl->mask_uploads++;
    }
  gl->tex_width = width;
  gl->tex_height = height;
  gl->frame_stale = gl->mask_stale = FALSE;
}

static gboolean
on_area_render (GtkGLArea    *area,
                GdkGLContext *context,
                FaViewerGl   *gl)
{
  int scale = gtk_widget_get_scale_factor (GTK_WIDGET (area));
  int view_width = gtk_widget_get_width (GTK_WIDGET (area));
  int view_height = gtk_widget_get_height (GTK_WIDGET (area));
  FaViewerPlacement placement;
  FaDocumentView view;
  const guint8 *rgb = NULL;
  const guint8 *alpha = NULL;
  const guint8 *result = NULL;
  int width = 0;
  int height = 0;
  int result_width = 0;
  int result_height = 0;
  guint result_serial = 0;
  double split;
  GLint filter;

  glViewport (0, 0, view_width * scale, view_height * scale);
  glClearColor (FA_VIEWER_BACKGROUND_R, FA_VIEWER_BACKGROUND_G, FA_VIEWER_BACKGROUND_B, 1.0f);
  glClear (GL_COLOR_BUFFER_BIT);

  if (!gl->ready || view_width <= 0 || view_height <= 0
      || !fa_viewer_peek_current (gl->viewer, &rgb, &alpha, &width, &height)
      || !fa_viewer_get_placement (gl->viewer, &placement))
    return TRUE;

  fa_document_get_view (fa_viewer_get_document (gl->viewer), &view);
  split = fa_viewer_get_result_start (gl->viewer);
  if (split <= 1.0)
    result = fa_viewer_peek_result (gl->viewer, &result_width, &result_height, &result_serial);
  if (result == NULL)
    split = FA_VIEWER_RESULT_NOWHERE;

  glPixelStorei (GL_UNPACK_ALIGNMENT, 1);
  /* The source under a result covering the whole frame is not drawn: it
   * waits, stale, until it shows (playing through a result uploads only
   * the result's frames). */
  if (split > 0.0 || width != gl->tex_width || height != gl->tex_height)
    upload_source (gl, rgb, alpha, width, height);
  if (result != NULL
      && (result != gl->result_pixels || result_serial != gl->result_serial
          || result_width != gl->result_width || result_height != gl->result_height))
    {
      upload (gl->textures[2], GL_TEXTURE2,
              result_width != gl->result_width || result_height != gl->result_height,
              GL_RGB8, GL_RGB, result_width, result_height, result);
      gl->result_pixels = result;
      gl->result_serial = result_serial;
      gl->result_width = result_width;
      gl->result_height = result_height;
      gl->result_uploads++;
    }

  /* Working pixels shown larger than screen pixels stay sharp squares, as
   * a user zooms in to see exactly which pixels a mask covers; the result
   * follows the frame, so that both sides of a split look alike. */
  filter = placement.scale * scale > 1.0 ? GL_NEAREST : GL_LINEAR;
  set_filter (gl->textures[0], GL_TEXTURE0, filter);
  set_filter (gl->textures[1], GL_TEXTURE1, filter);
  if (result != NULL)
    set_filter (gl->textures[2], GL_TEXTURE2, filter);

  glUseProgram (gl->program);
  glUniform4f (gl->u_rect, placement.x, placement.y,
               placement.x + width * placement.scale, placement.y + height * placement.scale);
  glUniform2f (gl->u_viewport, view_width, view_height);
  glUniform1i (gl->u_look, alpha == NULL ? FA_MASK_LOOK_HIDDEN : (int) view.look);
  glUniform3f (gl->u_tint, ((view.tint_rgb >> 16) & 0xff) / 255.0f, ((view.tint_rgb >> 8) & 0xff) / 255.0f,
               (view.tint_rgb & 0xff) / 255.0f);
  glUniform1f (gl->u_opacity, CLAMP (view.opacity, 0.0, 1.0));
  glUniform1f (gl->u_split, (float) split);
  glBindVertexArray (gl->vao);
  glDrawArrays (GL_TRIANGLE_STRIP, 0, 4);
  glBindVertexArray (0);
  glUseProgram (0);
  glActiveTexture (GL_TEXTURE0);
  glBindTexture (GL_TEXTURE_2D, 0);
  glActiveTexture (GL_TEXTURE1);
  glBindTexture (GL_TEXTURE_2D, 0);
  glActiveTexture (GL_TEXTURE2);
  glBindTexture (GL_TEXTURE_2D, 0);
  glActiveTexture (GL_TEXTURE0);

  return TRUE;
}

FaViewerGl *
fa_viewer_gl_new (FaViewer *viewer)
{
  FaViewerGl *gl = g_new0 (FaViewerGl, 1);

  gl->viewer = viewer;
  gl->area = gtk_gl_area_new ();
  /* The viewer's own controllers take the pointer. */
  gtk_widget_set_can_target (gl->area, FALSE);
  g_signal_connect (gl->area, "create-context", G_CALLBACK (on_area_create_context), gl);
  g_signal_connect_after (gl->area, "realize", G_CALLBACK (on_area_realize), gl);
  g_signal_connect (gl->area, "unrealize", G_CALLBACK (on_area_unrealize), gl);
  g_signal_connect (gl->area, "render", G_CALLBACK (on_area_render), gl);
  return gl;
}

GtkWidget *
fa_viewer_gl_get_area (FaViewerGl *gl)
{
  return gl->area;
}

gboolean
fa_viewer_gl_start (FaViewerGl  *gl,
                    char       **reason)
{
  gtk_widget_realize (gl->area);
  if (!gtk_widget_get_realized (gl->area))
    {
      *reason = g_strdup ("the OpenGL area could not be realized");
      return FALSE;
    }
  if (!gl->ready)
    {
      *reason = g_strdup (gl->failure != NULL ? gl->failure : "no OpenGL context");
      return FALSE;
    }
  return TRUE;
}

const char *
fa_viewer_gl_get_description (FaViewerGl *gl)
{
  return gl->description;
}

void
fa_viewer_gl_invalidate (FaViewerGl *gl,
                         gboolean    frame,
                         gboolean    mask)
{
  gl->frame_stale |= frame;
  gl->mask_stale |= mask;
  gtk_gl_area_queue_render (GTK_GL_AREA (gl->area));
}

void
fa_viewer_gl_reset (FaViewerGl *gl)
{
  gl->tex_width = gl->tex_height = 0;
  gl->result_pixels = NULL;
  fa_viewer_gl_invalidate (gl, TRUE, TRUE);
}

void
fa_viewer_gl_free (FaViewerGl *gl)
{
  if (gl == NULL)
    return;

  g_signal_handlers_disconnect_by_data (gl->area, gl);
  g_free (gl->failure);
  g_free (gl);
}

void
fa_viewer_gl_get_upload_counts (FaViewerGl *gl,
                                guint      *frames,
                                guint      *masks)
{
  *frames = gl->frame_uploads;
  *masks = gl->mask_uploads;
}

guint
fa_viewer_gl_get_result_uploads (FaViewerGl *gl)
{
  return gl->result_uploads;
}
