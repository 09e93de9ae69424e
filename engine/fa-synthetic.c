/* fa-synthetic.c: test clips with exact ground truth.
 *
 * A clip is a stack of surfaces, bottom to top: the background and three
 * shapes. Each surface has a texture defined on its own plane and, per
 * frame, a pose (a similarity: centre, rotation, scale) that maps the
 * plane into the image. Frames are rendered by inverse mapping: at each
 * image point the topmost surface whose shape contains the point's
 * preimage is found and its texture is sampled at that preimage, so a
 * texture moves exactly with its surface and the flow of any pixel is
 * known in closed form (pose of frame t + 1 applied to the preimage under
 * frame t's pose).
 *
 * Textures are sums of sinusoids of random orientation, wavelengths spread
 * log-uniformly over 5–100 px (rich in the mid frequencies a patch search
 * locks on, with enough coarse structure for a pyramid's top levels),
 * tabulated once per surface and read bilinearly: the bilinear
 * interpolant is itself the continuous texture, so tabulating costs no
 * exactness. Shape edges get 2×2 supersampling in the frames; the masks
 * are the binary "tracked shape is topmost at the pixel centre".
 * SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "fa-synthetic"

#include "fa-synthetic.h"

#include <math.h>
#include <string.h>

#include "fa-error.h"
#include "fa-random.h"

#define MIN_SIDE 32
#define MAX_SIDE 4096
#define MAX_FRAMES 4097
#define MAX_FPS 240

#define N_SHAPES 3
#define N_SURFACES (1 + N_SHAPES)
#define MAX_VERTICES 8
#define BACKGROUND_WAVES 36
#define SHAPE_WAVES 28

typedef enum {
  SHAPE_ELLIPSE,
  SHAPE_ROUNDED_RECT,
  SHAPE_POLYGON,
  N_SHAPE_KINDS,
} ShapeKind;

/* image point = centre + scale · R(angle) · plane point */
typedef struct {
  double cx, cy;
  double cos_a, sin_a;
  double scale;
  /* the image box that may hold the shape, [x0, x1) × [y0, y1) */
  double x0, y0, x1, y1;
} Pose;

typedef struct {
  gboolean background; /* covers everything */
  ShapeKind kind;
  double a, b;   /* ellipse semi-axes; rectangle half sides */
  double corner; /* rounded rectangle's corner radius */
  int n_vertices;
  double vx[MAX_VERTICES], vy[MAX_VERTICES];
  double extent; /* largest distance of a shape point from the plane origin */

  /* tex_w × tex_h RGB, texel (i, j) holding the plane point (tex_x0 + i, tex_y0 + j) */
  float *texture;
  int tex_w, tex_h;
  double tex_x0, tex_y0;

  Pose *poses; /* per frame */
} Surface;

struct _FaSynthClip {
  FaSynthOptions options;
  FaWorkingClip *clip;
  guint8 *masks; /* n_frames × height × width */
  Surface surfaces[N_SURFACES]; /* bottom to top; [0] is the background */
  int tracked;                  /* the index of shape 0 in surfaces[] */
};

void
fa_synth_options_init (FaSynthOptions *options)
{
  g_return_if_fail (options != NULL);

  *options = (FaSynthOptions) {
    .motion = FA_SYNTH_TRANSLATE,
    .width = 832,
    .height = 480,
    .n_frames = 81,
    .fps = 16,
    .seed = 0,
  };
}

/* ---- randomness ---- */

static double
uniform (guint64 *state, double lo, double hi)
{
  return lo + (hi - lo) * (double) (fa_random_next (state) >> 11) * (1.0 / 9007199254740992.0);
}

static double
random_sign (guint64 *state)
{
  return (fa_random_next (state) >> 63) ? 1.0 : -1.0;
}

/* ---- shapes ---- */

static void
make_shape (Surface *surface, ShapeKind kind, double radius, guint64 *state)
{
  surface->kind = kind;
  switch (kind)
    {
    case SHAPE_ELLIPSE:
      surface->a = radius;
      surface->b = radius * uniform (state, 0.55, 0.8);
      surface->extent = surface->a;
      break;
    case SHAPE_ROUNDED_RECT:
      surface->a = radius * 0.85;
      surface->b = radius * uniform (state, 0.5, 0.72);
      surface->corner = MIN (surface->a, surface->b) * uniform (state, 0.2, 0.5);
      surface->extent = hypot (surface->a, surface->b);
      break;
    case SHAPE_POLYGON:
    default:
      surface->kind = SHAPE_POLYGON;
      surface->n_vertices = 5 + (int) (fa_random_next (state) % 3);
      surface->extent = 0.0;
      for (int i = 0; i < surface->n_vertices; i++)
        {
          double step = 2.0 * G_PI / surface->n_vertices;
          double angle = step * (i + uniform (state, -0.3, 0.3));
          double r = radius * uniform (state, 0.72, 1.0);
          surface->vx[i] = r * cos (angle);
          surface->vy[i] = r * sin (angle);
          surface->extent = MAX (surface->extent, r);
        }
      break;
    }
}

/* Whether the plane point (x, y) belongs to the shape. */
static inline gboolean
shape_contains (const Surface *s, double x, double y)
{
  switch (s->kind)
    {
    case SHAPE_ELLIPSE:
      {
        double u = x / s->a, v = y / s->b;
        return u * u + v * v <= 1.0;
      }
    case SHAPE_ROUNDED_RECT:
      {
        double ax = fabs (x), ay = fabs (y);
        if (ax > s->a || ay > s->b)
          return FALSE;
        double dx = ax - (s->a - s->corner), dy = ay - (s->b - s->corner);
        return dx <= 0.0 || dy <= 0.0 || dx * dx + dy * dy <= s->corner * s->corner;
      }
    case SHAPE_POLYGON:
    default:
      {
        /* even–odd crossings of a ray towards +x */
        gboolean inside = FALSE;
        for (int i = 0, j = s->n_vertices - 1; i < s->n_vertices; j = i++)
          {
            double yi = s->vy[i], yj = s->vy[j];
            if ((yi > y) != (yj > y) && x < s->vx[j] + (s->vx[i] - s->vx[j]) * (y - yj) / (yi - yj))
              inside = !inside;
          }
        return inside;
      }
    }
}

static inline void
to_plane (const Pose *pose, double px, double py, double *x, double *y)
{
  double dx = px - pose->cx, dy = py - pose->cy;
  *x = (pose->cos_a * dx + pose->sin_a * dy) / pose->scale;
  *y = (-pose->sin_a * dx + pose->cos_a * dy) / pose->scale;
}

static inline void
to_image (const Pose *pose, double x, double y, double *px, double *py)
{
  *px = pose->cx + pose->scale * (pose->cos_a * x - pose->sin_a * y);
  *py = pose->cy + pose->scale * (pose->sin_a * x + pose->cos_a * y);
}

/* The topmost surface at image point (px, py) of @frame; fills in its
 * plane point. */
static inline int
topmost (const FaSynthClip *synth, int frame, double px, double py, double *x, double *y)
{
  for (int i = N_SURFACES - 1; i > 0; i--)
    {
      const Surface *s = &synth->surfaces[i];
      const Pose *pose = &s->poses[frame];
      if (px < pose->x0 || px >= pose->x1 || py < pose->y0 || py >= pose->y1)
        continue;
      to_plane (pose, px, py, x, y);
      if (shape_contains (s, *x, *y))
        return i;
    }
  to_plane (&synth->surfaces[0].poses[frame], px, py, x, y);
  return 0;
}

/* ---- textures ---- */

/* Tabulates a sum of sinusoids over the plane box [x0, x0 + w) × [y0, y0 + h).
 * Along a row each sinusoid advances by a fixed phase step, so it is
 * carried by a rotation instead of a sin() per texel. */
static void
make_texture (Surface *surface, double x0, double y0, int w, int h, int n_waves, const double base[3],
              double amplitude, guint64 *state)
{
  double kx[BACKGROUND_WAVES], ky[BACKGROUND_WAVES], phase[BACKGROUND_WAVES], colour[BACKGROUND_WAVES][3];
  g_autofree double *row = g_new (double, (gsize) w * 3);

  g_assert (n_waves <= BACKGROUND_WAVES);
  for (int k = 0; k < n_waves; k++)
    {
      double wavelength = exp (uniform (state, log (5.0), log (100.0)));
      double angle = uniform (state, 0.0, G_PI);
      kx[k] = 2.0 * G_PI / wavelength * cos (angle);
      ky[k] = 2.0 * G_PI / wavelength * sin (angle);
      phase[k] = uniform (state, 0.0, 2.0 * G_PI);
      /* mostly brightness (what a grey-level flow sees), some colour */
      double sign = random_sign (state);
      for (int c = 0; c < 3; c++)
        colour[k][c] = amplitude * sign * uniform (state, 0.45, 1.0);
    }

  surface->texture = g_new (float, (gsize) w * h * 3);
  surface->tex_w = w;
  surface->tex_h = h;
  surface->tex_x0 = x0;
  surface->tex_y0 = y0;
  for (int j = 0; j < h; j++)
    {
      for (int i = 0; i < w; i++)
        for (int c = 0; c < 3; c++)
          row[i * 3 + c] = base[c];
      for (int k = 0; k < n_waves; k++)
        {
          double start = kx[k] * x0 + ky[k] * (y0 + j) + phase[k];
          double s = sin (start), co = cos (start);
          double step_s = sin (kx[k]), step_c = cos (kx[k]);
          for (int i = 0; i < w; i++)
            {
              row[i * 3 + 0] += colour[k][0] * s;
              row[i * 3 + 1] += colour[k][1] * s;
              row[i * 3 + 2] += colour[k][2] * s;
              double next_s = s * step_c + co * step_s;
              co = co * step_c - s * step_s;
              s = next_s;
            }
        }
      float *out = surface->texture + (gsize) j * w * 3;
      for (int i = 0; i < w * 3; i++)
        out[i] = (float) CLAMP (row[i], 0.0, 255.0);
    }
}

/* Bilinear texture value at the plane point (x, y), clamped to the table. */
static inline void
sample (const Surface *s, double x, double y, float rgb[3])
{
  double u = CLAMP (x - s->tex_x0, 0.0, s->tex_w - 1.001);
  double v = CLAMP (y - s->tex_y0, 0.0, s->tex_h - 1.001);
  int i = (int) u, j = (int) v;
  float fx = (float) (u - i), fy = (float) (v - j);
  const float *p = s->texture + ((gsize) j * s->tex_w + i) * 3;
  const float *q = p + (gsize) s->tex_w * 3;

  for (int c = 0; c < 3; c++)
    {
      float top = p[c] + fx * (p[c + 3] - p[c]);
      float bottom = q[c] + fx * (q[c + 3] - q[c]);
      rgb[c] = top + fy * (bottom - top);
    }
}

/* ---- motion ---- */

typedef struct {
  double x0, y0, x1, y1; /* where a centre may go */
} Box;

/* A box keeping a shape of bounding radius @extent inside the frame but
 * for @overhang of it. */
static Box
inside_box (const FaSynthOptions *o, double extent, double overhang)
{
  double margin = extent * (1.0 - overhang);
  Box box = { margin, margin, o->width - margin, o->height - margin };

  /* a frame too small for the shape: its centre stays in the middle */
  if (box.x0 > box.x1)
    box.x0 = box.x1 = o->width / 2.0;
  if (box.y0 > box.y1)
    box.y0 = box.y1 = o->height / 2.0;
  return box;
}

/* A straight path of about @speed px per frame that stays in @box over
 * the clip: its start and its velocity per frame. */
static void
line_path (const Box *box, double speed, int n_steps, guint64 *state, double *sx, double *sy, double *vx, double *vy)
{
  double angle = uniform (state, 0.0, 2.0 * G_PI);
  double dx = cos (angle), dy = sin (angle);
  double room_x = fabs (dx) > 1e-9 ? (box->x1 - box->x0) / fabs (dx) : G_MAXDOUBLE;
  double room_y = fabs (dy) > 1e-9 ? (box->y1 - box->y0) / fabs (dy) : G_MAXDOUBLE;
  double length = MIN (speed * n_steps, 0.95 * MIN (room_x, room_y));
  double ex = length * dx, ey = length * dy;

  *sx = uniform (state, box->x0 - MIN (ex, 0.0), box->x1 - MAX (ex, 0.0));
  *sy = uniform (state, box->y0 - MIN (ey, 0.0), box->y1 - MAX (ey, 0.0));
  *vx = ex / n_steps;
  *vy = ey / n_steps;
}

static void
set_pose (Surface *s, int frame, double cx, double cy, double angle, double scale)
{
  Pose *pose = &s->poses[frame];
  double reach = s->background ? 0.0 : s->extent * scale + 1.0;

  pose->cx = cx;
  pose->cy = cy;
  pose->cos_a = cos (angle);
  pose->sin_a = sin (angle);
  pose->scale = scale;
  pose->x0 = cx - reach;
  pose->y0 = cy - reach;
  pose->x1 = cx + reach;
  pose->y1 = cy + reach;
}

/* A shape moving in a straight line, optionally turning and breathing. */
static void
move_linear (Surface *s, int n_frames, double sx, double sy, double vx, double vy, double angle0, double spin,
             double breathe, double breathe_phase)
{
  int steps = MAX (n_frames - 1, 1);

  for (int t = 0; t < n_frames; t++)
    {
      double scale = 1.0 + breathe * sin (2.0 * G_PI * t / steps + breathe_phase);
      set_pose (s, t, sx + vx * t, sy + vy * t, angle0 + spin * t, scale);
    }
}

static void
plan_motion (FaSynthClip *synth, Surface *tracked, Surface *second, Surface *third, guint64 *state)
{
  const FaSynthOptions *o = &synth->options;
  int n = o->n_frames, steps = MAX (n - 1, 1);
  double sx, sy, vx, vy;

  /* the background: a steady drift with a slow sway */
  Surface *bg = &synth->surfaces[0];
  double bg_angle = uniform (state, 0.0, 2.0 * G_PI), bg_speed = uniform (state, 1.0, 2.5);
  double sway_x = uniform (state, 2.0, 5.0), sway_y = uniform (state, 2.0, 5.0);
  double omega = 2.0 * G_PI / uniform (state, 30.0, 60.0), phase_x = uniform (state, 0.0, 6.3),
         phase_y = uniform (state, 0.0, 6.3);
  for (int t = 0; t < n; t++)
    set_pose (bg, t, bg_speed * cos (bg_angle) * t + sway_x * (sin (omega * t + phase_x) - sin (phase_x)),
              bg_speed * sin (bg_angle) * t + sway_y * (sin (omega * t + phase_y) - sin (phase_y)), 0.0, 1.0);

  /* the distractor: slow, behind the others, may be cut by the frame */
  Box box = inside_box (o, third->extent, 0.3);
  line_path (&box, uniform (state, 0.3, 1.0), steps, state, &sx, &sy, &vx, &vy);
  move_linear (third, n, sx, sy, vx, vy, uniform (state, 0.0, G_PI), 0.0, 0.0, 0.0);

  double angle0 = uniform (state, 0.0, G_PI);
  switch (o->motion)
    {
    case FA_SYNTH_TRANSLATE:
    default:
      box = inside_box (o, tracked->extent, 0.0);
      line_path (&box, uniform (state, 1.5, 3.5), steps, state, &sx, &sy, &vx, &vy);
      move_linear (tracked, n, sx, sy, vx, vy, angle0, 0.0, 0.0, 0.0);
      break;
    case FA_SYNTH_ROTATE:
      {
        box = inside_box (o, tracked->extent, 0.0);
        line_path (&box, uniform (state, 0.5, 1.5), steps, state, &sx, &sy, &vx, &vy);
        double spin = random_sign (state) * uniform (state, 1.0, 2.0) * G_PI / 180.0;
        move_linear (tracked, n, sx, sy, vx, vy, angle0, spin, 0.0, 0.0);
        break;
      }
    case FA_SYNTH_SCALE:
      {
        box = inside_box (o, tracked->extent * 1.3, 0.0);
        line_path (&box, uniform (state, 0.3, 1.0), steps, state, &sx, &sy, &vx, &vy);
        double phase = (fa_random_next (state) >> 63) ? 0.0 : G_PI;
        move_linear (tracked, n, sx, sy, vx, vy, angle0, 0.0, 0.3, phase);
        break;
      }
    case FA_SYNTH_OCCLUDE:
      {
        /* the tracked shape drifts near the middle; the occluder crosses
         * over it at about half-time and is clear of it at both ends */
        Box middle = inside_box (o, tracked->extent, 0.0);
        double cx = (middle.x0 + middle.x1) / 2.0, cy = (middle.y0 + middle.y1) / 2.0;
        middle = (Box) { cx - o->width * 0.08, cy - o->height * 0.08, cx + o->width * 0.08, cy + o->height * 0.08 };
        line_path (&middle, uniform (state, 0.3, 1.0), steps, state, &sx, &sy, &vx, &vy);
        move_linear (tracked, n, sx, sy, vx, vy, angle0, 0.0, 0.0, 0.0);

        double t_mid = steps * uniform (state, 0.42, 0.58);
        /* along the frame's long side, give or take 20° */
        double angle = (o->width >= o->height ? 0.0 : G_PI / 2.0) + uniform (state, -0.35, 0.35);
        if (fa_random_next (state) >> 63)
          angle += G_PI;
        double clear = tracked->extent + second->extent + 4.0;
        double relative = clear / MIN (t_mid, steps - t_mid);
        double off = random_sign (state) * uniform (state, 0.05, 0.2) * tracked->extent;
        double mx = sx + vx * t_mid - sin (angle) * off, my = sy + vy * t_mid + cos (angle) * off;
        double ovx = vx + relative * cos (angle), ovy = vy + relative * sin (angle);
        move_linear (second, n, mx - ovx * t_mid, my - ovy * t_mid, ovx, ovy, uniform (state, 0.0, G_PI), 0.0, 0.0,
                     0.0);
        return;
      }
    }

  /* the second shape of the other motions: a straight line behind the tracked one */
  box = inside_box (o, second->extent, 0.25);
  line_path (&box, uniform (state, 1.0, 3.0), steps, state, &sx, &sy, &vx, &vy);
  move_linear (second, n, sx, sy, vx, vy, uniform (state, 0.0, G_PI), 0.0, 0.0, 0.0);
}

/* The colour of a shape: saturated, from a random hue. */
static void
random_colour (guint64 *state, double rgb[3])
{
  double hue = uniform (state, 0.0, 6.0), saturation = uniform (state, 0.45, 0.7), value = uniform (state, 150, 200);
  for (int c = 0; c < 3; c++)
    {
      /* HSV → RGB, by each channel's distance from its hue */
      double k = fmod (5.0 - 2.0 * c + hue, 6.0);
      rgb[c] = value * (1.0 - saturation * MAX (0.0, MIN (MIN (k, 4.0 - k), 1.0)));
    }
}

static void
build_scene (FaSynthClip *synth)
{
  const FaSynthOptions *o = &synth->options;
  guint64 layout = fa_random_stream (o->seed, "synth-layout");
  double side = MIN (o->width, o->height);
  /* stacking order: in OCCLUDE the second shape passes in front of the tracked one */
  int tracked = o->motion == FA_SYNTH_OCCLUDE ? 2 : 3, second = o->motion == FA_SYNTH_OCCLUDE ? 3 : 2, third = 1;
  const double radius[N_SURFACES] = {
    [1] = 0.13 * side,
    [2] = o->motion == FA_SYNTH_OCCLUDE ? 0.2 * side : 0.14 * side,
    [3] = o->motion == FA_SYNTH_OCCLUDE ? 0.12 * side : 0.2 * side,
  };

  synth->tracked = tracked;
  synth->surfaces[0].background = TRUE;
  for (int i = 0; i < N_SURFACES; i++)
    synth->surfaces[i].poses = g_new0 (Pose, o->n_frames);
  for (int i = 1; i < N_SURFACES; i++)
    make_shape (&synth->surfaces[i], (ShapeKind) (fa_random_next (&layout) % N_SHAPE_KINDS), radius[i], &layout);

  plan_motion (synth, &synth->surfaces[tracked], &synth->surfaces[second], &synth->surfaces[third], &layout);

  /* textures: each shape's over its plane box, the background's over all
   * it shows through the frame over the clip */
  for (int i = 0; i < N_SURFACES; i++)
    {
      Surface *s = &synth->surfaces[i];
      g_autofree char *name = g_strdup_printf ("synth-texture-%d", i);
      guint64 stream = fa_random_stream (o->seed, name);
      double base[3];

      if (s->background)
        {
          double min_x = 0.0, max_x = 0.0, min_y = 0.0, max_y = 0.0;
          for (int t = 0; t < o->n_frames; t++)
            {
              min_x = MIN (min_x, s->poses[t].cx);
              max_x = MAX (max_x, s->poses[t].cx);
              min_y = MIN (min_y, s->poses[t].cy);
              max_y = MAX (max_y, s->poses[t].cy);
            }
          for (int c = 0; c < 3; c++)
            base[c] = uniform (&stream, 105.0, 150.0);
          double x0 = floor (-max_x) - 2.0, y0 = floor (-max_y) - 2.0;
          make_texture (s, x0, y0, (int) (ceil (o->width - min_x) - x0) + 3, (int) (ceil (o->height - min_y) - y0) + 3,
                        BACKGROUND_WAVES, base, 9.0, &stream);
        }
      else
        {
          random_colour (&stream, base);
          int half = (int) ceil (s->extent) + 2;
          make_texture (s, -half, -half, 2 * half + 2, 2 * half + 2, SHAPE_WAVES, base, 9.0, &stream);
        }
    }
}

/* ---- rendering ---- */

static void
render_frame (FaSynthClip *synth, int t)
{
  const int w = synth->options.width, h = synth->options.height;
  guint8 *rgb = fa_working_clip_frame (synth->clip, t);
  guint8 *mask = synth->masks + (gsize) t * w * h;
  const Surface *bg = &synth->surfaces[0];
  const Pose *bg_pose = &bg->poses[t];
  /* the part of the frame any shape may reach */
  double reach_x0 = G_MAXDOUBLE, reach_y0 = G_MAXDOUBLE, reach_x1 = -G_MAXDOUBLE, reach_y1 = -G_MAXDOUBLE;
  static const double offsets[4][2] = { { -0.25, -0.25 }, { 0.25, -0.25 }, { -0.25, 0.25 }, { 0.25, 0.25 } };

  for (int i = 1; i < N_SURFACES; i++)
    {
      const Pose *pose = &synth->surfaces[i].poses[t];
      reach_x0 = MIN (reach_x0, pose->x0);
      reach_y0 = MIN (reach_y0, pose->y0);
      reach_x1 = MAX (reach_x1, pose->x1);
      reach_y1 = MAX (reach_y1, pose->y1);
    }

  for (int y = 0; y < h; y++)
    {
      double py = y + 0.5;
      gboolean row_reached = py + 0.5 >= reach_y0 && py - 0.5 < reach_y1;
      for (int x = 0; x < w; x++)
        {
          double px = x + 0.5, qx, qy;
          float colour[3];
          guint8 *out = rgb + ((gsize) y * w + x) * 3;

          if (!row_reached || px + 0.5 < reach_x0 || px - 0.5 >= reach_x1)
            {
              to_plane (bg_pose, px, py, &qx, &qy);
              sample (bg, qx, qy, colour);
              mask[(gsize) y * w + x] = 0;
            }
          else
            {
              int centre = topmost (synth, t, px, py, &qx, &qy);
              int ids[4];
              double sub_x[4], sub_y[4];
              gboolean uniform_pixel = TRUE;

              mask[(gsize) y * w + x] = centre == synth->tracked ? 255 : 0;
              for (int k = 0; k < 4; k++)
                {
                  ids[k] = topmost (synth, t, px + offsets[k][0], py + offsets[k][1], &sub_x[k], &sub_y[k]);
                  uniform_pixel = uniform_pixel && ids[k] == centre;
                }
              if (uniform_pixel)
                sample (&synth->surfaces[centre], qx, qy, colour);
              else
                {
                  /* an edge: the mean of the four subsamples */
                  colour[0] = colour[1] = colour[2] = 0.0f;
                  for (int k = 0; k < 4; k++)
                    {
                      float part[3];
                      sample (&synth->surfaces[ids[k]], sub_x[k], sub_y[k], part);
                      for (int c = 0; c < 3; c++)
                        colour[c] += 0.25f * part[c];
                    }
                }
            }
          for (int c = 0; c < 3; c++)
            out[c] = (guint8) CLAMP (lrintf (colour[c]), 0, 255);
        }
    }
}

typedef struct {
  FaSynthClip *synth;
  int next; /* atomic: the next frame to render */
} RenderJob;

static gpointer
render_worker (gpointer data)
{
  RenderJob *job = data;
  int t;

  while ((t = g_atomic_int_add (&job->next, 1)) < job->synth->options.n_frames)
    render_frame (job->synth, t);
  return NULL;
}

/* ---- the clip ---- */

static gboolean
check_options (const FaSynthOptions *o, GError **error)
{
  if ((int) o->motion < FA_SYNTH_TRANSLATE || (int) o->motion > FA_SYNTH_OCCLUDE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "synthetic clip: unknown motion %d", (int) o->motion);
      return FALSE;
    }
  if (o->width < MIN_SIDE || o->height < MIN_SIDE || o->width > MAX_SIDE || o->height > MAX_SIDE)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "synthetic clip: a frame of %d×%d; each side must lie in [%d, %d]", o->width, o->height, MIN_SIDE,
                   MAX_SIDE);
      return FALSE;
    }
  if (o->n_frames < 2 || o->n_frames > MAX_FRAMES)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT,
                   "synthetic clip: %d frames; the count must lie in [2, %d]", o->n_frames, MAX_FRAMES);
      return FALSE;
    }
  if (o->fps < 1 || o->fps > MAX_FPS)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_INVALID_ARGUMENT, "synthetic clip: %d fps; the rate must lie in [1, %d]",
                   o->fps, MAX_FPS);
      return FALSE;
    }
  return TRUE;
}

FaSynthClip *
fa_synth_clip_new (const FaSynthOptions *options, GError **error)
{
  g_return_val_if_fail (options != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_options (options, error))
    return NULL;

  g_autoptr (FaWorkingClip) clip = fa_working_clip_new (options->n_frames, options->width, options->height,
                                                        options->fps, 1, error);
  if (clip == NULL)
    return NULL;
  gsize mask_bytes = (gsize) options->n_frames * options->width * options->height;
  guint8 *masks = g_try_malloc (mask_bytes);
  if (masks == NULL)
    {
      g_set_error (error, FA_ERROR, FA_ERROR_OUT_OF_MEMORY, "synthetic clip: no memory for %d masks of %d×%d",
                   options->n_frames, options->width, options->height);
      return NULL;
    }

  g_autoptr (FaSynthClip) synth = g_new0 (FaSynthClip, 1);
  synth->options = *options;
  synth->clip = g_steal_pointer (&clip);
  synth->masks = masks;
  build_scene (synth);

  /* frames are independent: one thread per core shares them out */
  RenderJob job = { synth, 0 };
  int n_threads = CLAMP ((int) g_get_num_processors (), 1, 8);
  n_threads = MIN (n_threads, options->n_frames);
  g_autoptr (GPtrArray) threads = g_ptr_array_new ();
  for (int i = 1; i < n_threads; i++)
    {
      GThread *thread = g_thread_try_new ("fa-synth", render_worker, &job, NULL);
      if (thread != NULL)
        g_ptr_array_add (threads, thread);
    }
  render_worker (&job);
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (threads->pdata[i]);

  return g_steal_pointer (&synth);
}

void
fa_synth_clip_free (FaSynthClip *synth)
{
  if (synth == NULL)
    return;
  for (int i = 0; i < N_SURFACES; i++)
    {
      g_free (synth->surfaces[i].texture);
      g_free (synth->surfaces[i].poses);
    }
  fa_working_clip_free (synth->clip);
  g_free (synth->masks);
  g_free (synth);
}

const FaWorkingClip *
fa_synth_clip_get_clip (const FaSynthClip *synth)
{
  g_return_val_if_fail (synth != NULL, NULL);
  return synth->clip;
}

const guint8 *
fa_synth_clip_get_mask (const FaSynthClip *synth, int frame)
{
  g_return_val_if_fail (synth != NULL, NULL);
  g_return_val_if_fail (frame >= 0 && frame < synth->options.n_frames, NULL);
  return synth->masks + (gsize) frame * synth->options.width * synth->options.height;
}

void
fa_synth_clip_get_flow (const FaSynthClip *synth, int frame, float *flow, guint8 *valid)
{
  g_return_if_fail (synth != NULL);
  g_return_if_fail (frame >= 0 && frame + 1 < synth->options.n_frames);
  g_return_if_fail (flow != NULL);

  const int w = synth->options.width, h = synth->options.height;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        double px = x + 0.5, py = y + 0.5, qx, qy, nx, ny, rx, ry;
        int surface = topmost (synth, frame, px, py, &qx, &qy);
        gsize i = (gsize) y * w + x;

        to_image (&synth->surfaces[surface].poses[frame + 1], qx, qy, &nx, &ny);
        flow[i * 2 + 0] = (float) (nx - px);
        flow[i * 2 + 1] = (float) (ny - py);
        if (valid != NULL)
          valid[i] = nx >= 0.0 && nx < w && ny >= 0.0 && ny < h && topmost (synth, frame + 1, nx, ny, &rx, &ry) == surface;
      }
}
