/* solvers.c: the small problems of the gradient strategies (spec §7). Each takes the Gram
 * matrix of the per-task gradients (gram[i*T + j] = g_i . g_j, in double) and which tasks
 * had labels in the batch, and gives the coefficients alpha of the combined gradient
 * sum_t alpha_t g_t. A task without labels has no gradient: it gets 0 and takes no part.
 * The references in tests/parity/parity.py follow the same steps in numpy.
 */
#include "mtlrt.h"

#include <math.h>
#include <string.h>

/* The labelled tasks: their indices into idx and their Gram matrix into sub; returns how
 * many. */
static int labelled_gram(int tasks, const double *gram, const int *labelled, int *idx, double *sub) {
  int k = 0;
  for (int t = 0; t < tasks; t++)
    if (labelled[t])
      idx[k++] = t;
  for (int i = 0; i < k; i++)
    for (int j = 0; j < k; j++)
      sub[i * k + j] = gram[idx[i] * tasks + idx[j]];
  return k;
}

static void scatter(int tasks, int k, const int *idx, const double *sub_alpha, double *alpha) {
  for (int t = 0; t < tasks; t++)
    alpha[t] = 0;
  for (int i = 0; i < k; i++)
    alpha[idx[i]] = sub_alpha[i];
}

/* PCGrad (Yu et al. 2020, as LibMTL): each task's gradient, in a random order of all tasks,
 * loses its component along every original gradient it conflicts with (negative inner
 * product); the sum of the projected gradients is the update. Every projected gradient is a
 * combination of the originals, so the coefficients c[i][.] follow from the Gram matrix. */
void mtlrt_pcgrad(int tasks, const double *gram, const int *labelled, uint64_t seed, uint64_t step,
                  double *alpha) {
  int idx[MTLRT_MAX_TASKS], order[MTLRT_MAX_TASKS];
  double g[MTLRT_MAX_TASKS * MTLRT_MAX_TASKS], sum[MTLRT_MAX_TASKS] = {0};
  int k = labelled_gram(tasks, gram, labelled, idx, g);
  for (int i = 0; i < k; i++) {
    double c[MTLRT_MAX_TASKS] = {0};
    c[i] = 1;
    for (int j = 0; j < k; j++) /* Fisher-Yates, drawn from (seed, step * T * T + i * T + j) */
      order[j] = j;
    for (int j = k - 1; j > 0; j--) {
      int r = (int)(mtlrt_uniform(seed, (step * (uint64_t)tasks + (uint64_t)i) * (uint64_t)tasks + (uint64_t)j) *
                    (float)(j + 1));
      int tmp = order[j];
      order[j] = order[r < j ? r : j];
      order[r < j ? r : j] = tmp;
    }
    for (int q = 0; q < k; q++) {
      int j = order[q];
      double dot = 0; /* (projected g_i) . g_j */
      for (int l = 0; l < k; l++)
        dot += c[l] * g[l * k + j];
      if (dot < 0)
        c[j] -= dot / (g[j * k + j] + 1e-8);
    }
    for (int l = 0; l < k; l++)
      sum[l] += c[l];
  }
  scatter(tasks, k, idx, sum, alpha);
}

/* The point of the segment [a, b] nearest 0, as the weight gamma of b, given a.a, a.b, b.b. */
static double min_norm_on_segment(double aa, double ab, double bb) {
  double den = aa - 2 * ab + bb;
  if (den <= 0)
    return 0;
  double gamma = (aa - ab) / den;
  return gamma < 0 ? 0 : gamma > 1 ? 1 : gamma;
}

/* MGDA (Sener & Koltun 2018): the min-norm point of the convex hull of the gradients, by
 * Frank-Wolfe with exact line search from the uniform point (their Algorithm 2), at most
 * 250 iterations, stopping when the step moves alpha by less than 1e-5 in L1; for two
 * tasks the closed form. */
void mtlrt_mgda(int tasks, const double *gram, const int *labelled, double *alpha) {
  int idx[MTLRT_MAX_TASKS];
  double g[MTLRT_MAX_TASKS * MTLRT_MAX_TASKS], a[MTLRT_MAX_TASKS];
  int k = labelled_gram(tasks, gram, labelled, idx, g);
  if (k == 1)
    a[0] = 1;
  if (k == 2) {
    double gamma = min_norm_on_segment(g[0], g[1], g[3]);
    a[0] = 1 - gamma;
    a[1] = gamma;
  }
  if (k > 2) {
    for (int i = 0; i < k; i++)
      a[i] = 1.0 / k;
    for (int iter = 0; iter < 250; iter++) {
      double ga[MTLRT_MAX_TASKS], aga = 0;
      for (int i = 0; i < k; i++) {
        ga[i] = 0;
        for (int j = 0; j < k; j++)
          ga[i] += g[i * k + j] * a[j];
        aga += a[i] * ga[i];
      }
      int best = 0; /* the vertex that decreases the norm fastest */
      for (int i = 1; i < k; i++)
        if (ga[i] < ga[best])
          best = i;
      double gamma = min_norm_on_segment(aga, ga[best], g[best * k + best]);
      double moved = 0;
      for (int i = 0; i < k; i++) {
        double next = (1 - gamma) * a[i] + (i == best ? gamma : 0);
        moved += fabs(next - a[i]);
        a[i] = next;
      }
      if (moved < 1e-5)
        break;
    }
  }
  scatter(tasks, k, idx, a, alpha);
}

/* Solves the k x k system m x = b in place by Gaussian elimination with partial pivoting;
 * returns -1 when m is singular. */
static int solve(int k, double *m, double *b) {
  for (int col = 0; col < k; col++) {
    int piv = col;
    for (int r = col + 1; r < k; r++)
      if (fabs(m[r * k + col]) > fabs(m[piv * k + col]))
        piv = r;
    if (m[piv * k + col] == 0)
      return -1;
    for (int j = 0; j < k; j++) {
      double tmp = m[col * k + j];
      m[col * k + j] = m[piv * k + j];
      m[piv * k + j] = tmp;
    }
    double tmp = b[col];
    b[col] = b[piv];
    b[piv] = tmp;
    for (int r = col + 1; r < k; r++) {
      double f = m[r * k + col] / m[col * k + col];
      for (int j = col; j < k; j++)
        m[r * k + j] -= f * m[col * k + j];
      b[r] -= f * b[col];
    }
  }
  for (int r = k - 1; r >= 0; r--) {
    for (int j = r + 1; j < k; j++)
      b[r] -= m[r * k + j] * b[j];
    b[r] /= m[r * k + r];
  }
  return 0;
}

/* IMTL-G (Liu et al. 2021, the gradient half of IMTL, as LibMTL's IMTL computes it): the
 * combination whose projections on every task's unit gradient are equal. With D_i = g_1 -
 * g_i and U_i = u_1 - u_i (u = g / |g|, i = 2..T): alpha_2..T = g_1 U^T (D U^T)^-1 and
 * alpha_1 = 1 - sum of the others. Tasks with a zero gradient take no part; if the system
 * is singular the tasks share equally. */
void mtlrt_imtl(int tasks, const double *gram, const int *labelled, double *alpha) {
  int idx[MTLRT_MAX_TASKS], use[MTLRT_MAX_TASKS] = {0};
  for (int t = 0; t < tasks; t++)
    use[t] = labelled[t] && gram[t * tasks + t] > 0;
  double g[MTLRT_MAX_TASKS * MTLRT_MAX_TASKS], a[MTLRT_MAX_TASKS], norm[MTLRT_MAX_TASKS];
  int k = labelled_gram(tasks, gram, use, idx, g);
  for (int i = 0; i < k; i++)
    norm[i] = sqrt(g[i * k + i]);
  if (k > 1) {
    int n = k - 1;
    double du[MTLRT_MAX_TASKS * MTLRT_MAX_TASKS], x[MTLRT_MAX_TASKS];
    /* (D U^T)[i][j] = (g_0 - g_i).(u_0 - u_j); its transpose is solved against g_0 U^T. */
    for (int i = 1; i < k; i++)
      for (int j = 1; j < k; j++)
        du[(j - 1) * n + (i - 1)] = g[0] / norm[0] - g[j] / norm[j] - g[i * k] / norm[0] + g[i * k + j] / norm[j];
    for (int j = 1; j < k; j++)
      x[j - 1] = g[0] / norm[0] - g[j] / norm[j];
    double rest = 0;
    if (solve(n, du, x) == 0) {
      for (int i = 1; i < k; i++)
        rest += a[i] = x[i - 1];
      a[0] = 1 - rest;
    } else {
      for (int i = 0; i < k; i++)
        a[i] = 1.0 / k;
    }
  } else if (k == 1) {
    a[0] = 1;
  }
  scatter(tasks, k, idx, a, alpha);
}

/* The Euclidean projection of v onto the probability simplex (Duchi et al. 2008). */
static void project_simplex(int k, const double *v, double *out) {
  double s[MTLRT_MAX_TASKS], sum = 0, theta = 0;
  memcpy(s, v, sizeof *s * (size_t)k);
  for (int i = 1; i < k; i++) /* descending insertion sort: k is small */
    for (int j = i; j > 0 && s[j] > s[j - 1]; j--) {
      double tmp = s[j];
      s[j] = s[j - 1];
      s[j - 1] = tmp;
    }
  for (int i = 0; i < k; i++) {
    sum += s[i];
    if (s[i] - (sum - 1) / (i + 1) > 0)
      theta = (sum - 1) / (i + 1);
  }
  for (int i = 0; i < k; i++)
    out[i] = v[i] - theta > 0 ? v[i] - theta : 0;
}

/* CAGrad's inner objective F(w) = w.A.b + c * sqrt(w.A.w + 1e-8), b uniform, and its gradient. */
static double cagrad_f(int k, const double *a, double c, const double *w, double *grad) {
  double ab = 0, aw[MTLRT_MAX_TASKS], waw = 0;
  for (int i = 0; i < k; i++) {
    double abi = 0;
    aw[i] = 0;
    for (int j = 0; j < k; j++) {
      abi += a[i * k + j] / k;
      aw[i] += a[i * k + j] * w[j];
    }
    ab += w[i] * abi;
    waw += w[i] * aw[i];
    if (grad)
      grad[i] = abi;
  }
  double root = sqrt(waw + 1e-8);
  if (grad)
    for (int i = 0; i < k; i++)
      grad[i] += c * aw[i] / root;
  return ab + c * root;
}

/* CAGrad (Liu et al. 2021, as LibMTL with rescale = 1): w minimises F over the simplex,
 * here by projected gradient descent with a backtracking step (at most 500 iterations, until
 * w moves by less than 1e-12), where LibMTL calls SLSQP; with g_w = sum w_t g_t, the update
 * is (mean_t g_t + c g_w / |g_w|) / (1 + calpha^2), c = calpha * |mean_t g_t|. */
void mtlrt_cagrad(int tasks, const double *gram, const int *labelled, double calpha, double *alpha) {
  int idx[MTLRT_MAX_TASKS];
  double g[MTLRT_MAX_TASKS * MTLRT_MAX_TASKS], w[MTLRT_MAX_TASKS], a[MTLRT_MAX_TASKS];
  int k = labelled_gram(tasks, gram, labelled, idx, g);
  if (k == 0) {
    scatter(tasks, 0, idx, a, alpha);
    return;
  }
  double mean = 0;
  for (int i = 0; i < k * k; i++)
    mean += g[i] / (k * k);
  double c = calpha * sqrt(mean + 1e-8) + 1e-8, step = 1;
  for (int i = 0; i < k; i++)
    w[i] = 1.0 / k;
  for (int iter = 0; iter < 500; iter++) {
    double grad[MTLRT_MAX_TASKS], trial[MTLRT_MAX_TASKS], next[MTLRT_MAX_TASKS];
    double f = cagrad_f(k, g, c, w, grad), moved = 0;
    for (;;) { /* the largest step (halving) with sufficient decrease */
      for (int i = 0; i < k; i++)
        trial[i] = w[i] - step * grad[i];
      project_simplex(k, trial, next);
      double dec = 0, lin = 0;
      for (int i = 0; i < k; i++) {
        dec += (next[i] - w[i]) * (next[i] - w[i]);
        lin += grad[i] * (next[i] - w[i]);
      }
      if (cagrad_f(k, g, c, next, NULL) <= f + lin + dec / (2 * step) || step < 1e-20)
        break;
      step /= 2;
    }
    for (int i = 0; i < k; i++) {
      moved += fabs(next[i] - w[i]);
      w[i] = next[i];
    }
    step *= 2;
    if (moved < 1e-12)
      break;
  }
  double gww = 0;
  for (int i = 0; i < k; i++)
    for (int j = 0; j < k; j++)
      gww += w[i] * g[i * k + j] * w[j];
  double lambda = c / (sqrt(gww) + 1e-8);
  for (int i = 0; i < k; i++)
    a[i] = (1.0 / k + lambda * w[i]) / (1 + calpha * calpha);
  scatter(tasks, k, idx, a, alpha);
}

/* Nash-MTL (Navon et al. 2022): alpha > 0 with M alpha = 1 / alpha, M the Gram matrix over
 * its Frobenius norm, as the minimum of 1/2 a.M.a - sum log a_i (strictly convex): at most 20
 * Newton steps from the last step's alpha (prev, kept in the model), each halved until it
 * stays positive and decreases the objective. Tasks with a zero gradient take no part. */
void mtlrt_nash_mtl(int tasks, const double *gram, const int *labelled, double *prev, double *alpha) {
  int idx[MTLRT_MAX_TASKS], use[MTLRT_MAX_TASKS] = {0};
  for (int t = 0; t < tasks; t++)
    use[t] = labelled[t] && gram[t * tasks + t] > 0;
  double g[MTLRT_MAX_TASKS * MTLRT_MAX_TASKS], a[MTLRT_MAX_TASKS], norm = 0;
  int k = labelled_gram(tasks, gram, use, idx, g);
  for (int i = 0; i < k * k; i++)
    norm += g[i] * g[i];
  norm = sqrt(norm);
  for (int i = 0; i < k * k; i++)
    g[i] /= norm;
  for (int i = 0; i < k; i++)
    a[i] = prev[idx[i]] > 0 ? prev[idx[i]] : 1;
  for (int iter = 0; iter < 20; iter++) {
    double grad[MTLRT_MAX_TASKS], h[MTLRT_MAX_TASKS * MTLRT_MAX_TASKS], d[MTLRT_MAX_TASKS], size = 0;
    for (int i = 0; i < k; i++) {
      grad[i] = -1 / a[i];
      for (int j = 0; j < k; j++) {
        grad[i] += g[i * k + j] * a[j];
        h[i * k + j] = g[i * k + j] + (i == j ? 1 / (a[i] * a[i]) : 0);
      }
      d[i] = -grad[i];
      size += grad[i] * grad[i];
    }
    if (size < 1e-24 || solve(k, h, d) != 0)
      break;
    double f0 = 0, step = 1;
    for (int i = 0; i < k; i++) {
      f0 -= log(a[i]);
      for (int j = 0; j < k; j++)
        f0 += 0.5 * a[i] * g[i * k + j] * a[j];
    }
    for (int tries = 0; tries < 60; tries++, step /= 2) {
      double next[MTLRT_MAX_TASKS], f = 0;
      int positive = 1;
      for (int i = 0; i < k; i++)
        positive &= (next[i] = a[i] + step * d[i]) > 0;
      if (!positive)
        continue;
      for (int i = 0; i < k; i++) {
        f -= log(next[i]);
        for (int j = 0; j < k; j++)
          f += 0.5 * next[i] * g[i * k + j] * next[j];
      }
      if (f <= f0) {
        memcpy(a, next, sizeof *a * (size_t)k);
        break;
      }
    }
  }
  scatter(tasks, k, idx, a, alpha);
  for (int i = 0; i < k; i++)
    prev[idx[i]] = a[i];
}

/* GradNorm (Chen et al. 2018): with G_t = w_t |grad_W L_t| over the labelled tasks, r_t =
 * (L_t / L_t(0)) / mean_u (L_u / L_u(0)) and the target mean_u G_u * r_t^alpha held
 * constant, the gradient of sum_t |G_t - target_t| with respect to w_t is
 * sign(G_t - target_t) |grad_W L_t|. init[t], each task's first loss, is set at the task's
 * first labelled step. */
void mtlrt_gradnorm(int tasks, const double *norm, const double *loss, const int *labelled, double alpha,
                    const double *w, double *init, double *dw) {
  double mean_g = 0, mean_r = 0;
  int k = 0;
  for (int t = 0; t < tasks; t++) {
    dw[t] = 0;
    if (!labelled[t])
      continue;
    if (init[t] == 0)
      init[t] = loss[t];
    mean_g += w[t] * norm[t];
    mean_r += loss[t] / init[t];
    k++;
  }
  if (k == 0)
    return;
  mean_g /= k;
  mean_r /= k;
  for (int t = 0; t < tasks; t++) {
    if (!labelled[t])
      continue;
    double diff = w[t] * norm[t] - mean_g * pow(loss[t] / init[t] / mean_r, alpha);
    dw[t] = diff > 0 ? norm[t] : diff < 0 ? -norm[t] : 0;
  }
}
