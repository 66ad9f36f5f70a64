/* population.c — the annotators' truth and the label noise model (see sim.h).
 *
 * Heterogeneous users (docs/theory.md §2.4-2.7) are BT judges with rewards r_h; the NoisyBT
 * layer mixes each one's judgement with its position bias, P = c_h P_h + (1 - c_h)
 * sigma(q_h).  Population-level probabilities (noise_prob) average over the training
 * annotators, in O(K) for typed users (per-type sums of competences are kept) and
 * O(H d) for users with their own rewards.
 *
 * Links (docs/theory.md §2.1): P(a > b) = F((r_a - r_b)/T) with F = sigma (BT) or Phi
 * (Thurstone).  Symmetric flips (§2.3): P~ = eps + (1 - 2 eps) P.
 * Item scores are centred after drawing so theta* itself is the normalised
 * parameter the estimators' centred scores are compared with. */
#include "sim.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/numerics.h"

static double link_cdf(const noise_spec *ns, double z) {
  return ns->link == LINK_PROBIT ? ps_normal_cdf(z) : ps_sigmoid(z);
}

static double gpm_score(const population *p, int32_t a, int32_t b) {
  const double *va = p->embed + (size_t)a * 2 * p->k, *vb = p->embed + (size_t)b * 2 * p->k;
  double s = 0;
  for (size_t l = 0; l < p->k; l++) s += va[2 * l] * vb[2 * l + 1] - va[2 * l + 1] * vb[2 * l];
  return s;
}

/* the non-BT populations: item worlds, truth as a preference function */
static int population_general(population *p, const world *w, const population_spec *spec, gsl_rng *r,
                              ps_msg *m) {
  size_t M = w->n_items;
  if (w->spec.kind != WORLD_ITEMS)
    return ps_fail(m, PS_EINVAL, "population kinds gpm, cycle and condorcet need world.kind = items");
  if (M > 20000)
    return ps_fail(m, PS_EINVAL, "population kinds gpm, cycle and condorcet take at most 20000 items (%zu)", M);
  if (spec->kind != POP_GPM && M < 3)
    return ps_fail(m, PS_EINVAL, "a cycle or a Condorcet mixture needs at least 3 items");
  p->d = 0;
  p->reward = malloc(M * sizeof(double));
  if (!p->reward) return ps_fail(m, PS_ENOMEM, "out of memory");
  if (spec->kind == POP_CONDORCET) {
    p->mix = malloc(3 * M * sizeof(double));
    if (!p->mix) return ps_fail(m, PS_ENOMEM, "out of memory");
    /* type k's order is rotated by floor(k M / 3): distinct rotations for every M >= 3 */
    for (size_t k = 0; k < 3; k++)
      for (size_t y = 0; y < M; y++) p->mix[k * M + y] = spec->delta * (double)((M - 1 - y + (k * M) / 3) % M);
  } else {
    p->k = spec->kind == POP_CYCLE ? 1 : spec->k;
    if (p->k < 1) return ps_fail(m, PS_EINVAL, "population.k must be >= 1");
    if (!(spec->tau > 0)) return ps_fail(m, PS_EINVAL, "population.tau must be > 0");
    p->tau = spec->tau;
    p->embed = malloc(M * 2 * p->k * sizeof(double));
    if (!p->embed) return ps_fail(m, PS_ENOMEM, "out of memory");
    for (size_t y = 0; y < M; y++)
      for (size_t j = 0; j < 2 * p->k; j++)
        p->embed[y * 2 * p->k + j] =
            spec->kind == POP_CYCLE ? (j == 0 ? cos(2 * M_PI * (double)y / (double)M) : sin(2 * M_PI * (double)y / (double)M))
                                    : gsl_ran_gaussian_ziggurat(r, spec->scale);
  }
  return PS_OK;
}

/* Borda score mean_j P(y > j) of every item under the clean logistic link: a
 * reward-like summary for designs and rank metrics */
static void borda(population *p, size_t M) {
  noise_spec ns = {.link = LINK_LOGISTIC, .temperature = 1, .flip = 0};
  for (size_t y = 0; y < M; y++) {
    double s = 0;
    for (size_t j = 0; j < M; j++)
      if (j != y) s += noise_prob_clean(&ns, p, (int32_t)y, (int32_t)j);
    p->reward[y] = M > 1 ? s / (double)(M - 1) : 0.5;
  }
}

/* a uniformly random unit vector in R^D orthogonal to the k unit vectors basis[0..k-1]
 * (and to the ones vector when centred), by Gram-Schmidt on a Gaussian draw */
static void draw_orthonormal(gsl_rng *r, size_t D, const double *basis, size_t k, int centred, double *out) {
  for (;;) {
    double nrm = 0;
    for (size_t i = 0; i < D; i++) out[i] = gsl_ran_gaussian_ziggurat(r, 1.0);
    if (centred) {
      double mu = 0;
      for (size_t i = 0; i < D; i++) mu += out[i];
      mu /= (double)D;
      for (size_t i = 0; i < D; i++) out[i] -= mu;
    }
    for (int pass = 0; pass < 2; pass++) /* twice: re-orthogonalisation keeps 1e-16 */
      for (size_t j = 0; j < k; j++) {
        double dot = 0;
        for (size_t i = 0; i < D; i++) dot += out[i] * basis[j * D + i];
        for (size_t i = 0; i < D; i++) out[i] -= dot * basis[j * D + i];
      }
    for (size_t i = 0; i < D; i++) nrm += out[i] * out[i];
    if (nrm > 1e-8) {
      nrm = sqrt(nrm);
      for (size_t i = 0; i < D; i++) out[i] /= nrm;
      return;
    }
  }
}

static double dot_feature(const population *p, size_t y, const double *v) {
  const double *f = p->phi + y * p->feat_dim;
  double s = 0;
  for (size_t k = 0; k < p->feat_dim; k++) s += f[k] * v[k];
  return s;
}

double population_user_reward(const population *p, size_t h, int32_t y) {
  if (!p->n_users || h >= p->n_users || (p->user_type && p->user_type[h] < 0 && p->kind != POP_IDEALPOINT &&
                                         p->kind != POP_LOWRANK))
    return p->reward[y];
  if (p->kind == POP_IDEALPOINT) {
    const double *f = p->phi + (size_t)y * p->feat_dim, *a = p->user_vec + h * p->feat_dim;
    double d2 = 0;
    for (size_t k = 0; k < p->feat_dim; k++) d2 += (f[k] - a[k]) * (f[k] - a[k]);
    return p->euclidean ? -sqrt(d2) : -d2;
  }
  if (p->kind == POP_LOWRANK) return dot_feature(p, (size_t)y, p->user_vec + h * p->feat_dim);
  return p->type_reward[(size_t)p->user_type[h] * p->n_items + (size_t)y];
}

/* mixture types: theta_0 = R u, theta_k = R (cos a u + sin a v_k), orthonormal u, v_k */
static int population_mixture(population *p, const world *w, const population_spec *spec, gsl_rng *r, ps_msg *m) {
  size_t K = spec->types, M = w->n_items;
  int items = w->spec.kind == WORLD_ITEMS;
  size_t D = w->d;
  if (K < 1) return ps_fail(m, PS_EINVAL, "population.types must be >= 1");
  if (!(spec->minority >= 0 && spec->minority < 1))
    return ps_fail(m, PS_EINVAL, "population.minority must be in [0, 1)");
  if (D < K + (size_t)items)
    return ps_fail(m, PS_EINVAL, "a mixture of %zu types needs a parameter dimension of at least %zu (it has %zu)", K,
                   K + (size_t)items, D);
  p->n_types = K;
  p->type_theta = malloc(K * D * sizeof(double));
  p->type_reward = malloc(K * M * sizeof(double));
  p->type_weight = malloc(K * sizeof(double));
  double *basis = malloc(K * D * sizeof(double));
  if (!p->type_theta || !p->type_reward || !p->type_weight || !basis) {
    free(basis);
    return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  for (size_t k = 0; k < K; k++) draw_orthonormal(r, D, basis, k, items, basis + k * D);
  double R = items ? spec->scale * sqrt((double)M) : spec->norm, a = spec->angle * M_PI / 180.0;
  for (size_t k = 0; k < K; k++)
    for (size_t i = 0; i < D; i++)
      p->type_theta[k * D + i] = k == 0 ? R * basis[i] : R * (cos(a) * basis[i] + sin(a) * basis[k * D + i]);
  free(basis);
  for (size_t k = 0; k < K; k++) {
    p->type_weight[k] = K == 1 ? 1.0 : k == 0 ? 1 - spec->minority : spec->minority / (double)(K - 1);
    for (size_t y = 0; y < M; y++) {
      if (items) {
        p->type_reward[k * M + y] = p->type_theta[k * D + y];
        continue;
      }
      const double *f = w->phi + y * D;
      double s = 0;
      for (size_t i = 0; i < D; i++) s += f[i] * p->type_theta[k * D + i];
      p->type_reward[k * M + y] = s;
    }
  }
  return PS_OK;
}

/* Luce-rule types (docs/theory.md §2.12): q_k ~ Dirichlet(concentration 1_M) over the
 * M items, r_k = log q_k centred (theta_k = r_k: the items' own parameters); the type
 * weights as for mixture.  A density with a zero entry (the Dirichlet's underflow at
 * small concentrations) has no finite reward: refused. */
static int population_luce(population *p, const world *w, const population_spec *spec, gsl_rng *r, ps_msg *m) {
  size_t K = spec->types, M = w->n_items;
  if (w->spec.kind != WORLD_ITEMS) return ps_fail(m, PS_EINVAL, "population kind luce needs world.kind = items");
  if (K < 1) return ps_fail(m, PS_EINVAL, "population.types must be >= 1");
  if (!(spec->minority >= 0 && spec->minority < 1)) return ps_fail(m, PS_EINVAL, "population.minority must be in [0, 1)");
  if (!(spec->concentration > 0)) return ps_fail(m, PS_EINVAL, "population.concentration must be > 0");
  p->n_types = K;
  p->type_theta = malloc(K * M * sizeof(double));
  p->type_reward = malloc(K * M * sizeof(double));
  p->type_weight = malloc(K * sizeof(double));
  double *alpha = malloc(M * sizeof(double)), *q = malloc(M * sizeof(double));
  int s = PS_OK;
  if (!p->type_theta || !p->type_reward || !p->type_weight || !alpha || !q) s = ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t y = 0; !s && y < M; y++) alpha[y] = spec->concentration;
  for (size_t k = 0; !s && k < K; k++) {
    p->type_weight[k] = K == 1 ? 1.0 : k == 0 ? 1 - spec->minority : spec->minority / (double)(K - 1);
    gsl_ran_dirichlet(r, M, alpha, q);
    double mean = 0;
    for (size_t y = 0; y < M; y++) {
      if (!(q[y] > 0)) {
        s = ps_fail(m, PS_EINVAL, "population.concentration = %g drew a Luce density with an exact zero (no finite "
                    "reward); use a larger concentration", spec->concentration);
        break;
      }
      mean += log(q[y]) / (double)M;
    }
    for (size_t y = 0; !s && y < M; y++)
      p->type_reward[k * M + y] = p->type_theta[k * M + y] = log(q[y]) - mean;
  }
  free(alpha);
  free(q);
  return s;
}

/* users: their types or own parameters, then competences and biases */
static int population_users(population *p, const world *w, const population_spec *spec, gsl_rng *r, ps_msg *m) {
  size_t H = spec->annotators, U = H + spec->new_annotators, M = w->n_items;
  double comp = spec->competence > 0 ? spec->competence : 1.0;
  int noisy = spec->careless > 0 || spec->bias > 0 || comp < 1;
  if (!H) {
    if (spec->new_annotators) return ps_fail(m, PS_EINVAL, "population.new_annotators needs population.annotators >= 1");
    if (noisy)
      return ps_fail(m, PS_EINVAL, "careless annotators, competence < 1 or a position bias need population.annotators >= 1");
    if (spec->kind == POP_IDEALPOINT || spec->kind == POP_LOWRANK ||
        (population_kind_typed(spec->kind) && !spec->per_comparison))
      return ps_fail(m, PS_EINVAL, "population kind %s needs population.annotators >= 1 (the users), or "
                     "population.assignment = comparison",
                     spec->kind == POP_IDEALPOINT ? "idealpoint" : spec->kind == POP_LOWRANK ? "lowrank"
                     : spec->kind == POP_LUCE ? "luce" : "mixture");
    return PS_OK;
  }
  if (!(spec->careless >= 0 && spec->careless <= 1)) return ps_fail(m, PS_EINVAL, "population.careless must be in [0, 1]");
  if (!(comp > 0 && comp <= 1) || (spec->careless > 0 && !(spec->careless_competence > 0 && spec->careless_competence <= 1)))
    return ps_fail(m, PS_EINVAL, "competences must be in (0, 1]");
  p->n_users = U;
  p->n_train_users = H;
  p->user_type = malloc(U * sizeof(int32_t));
  p->competence = malloc(U * sizeof(double));
  p->bias = calloc(U, sizeof(double));
  if (!p->user_type || !p->competence || !p->bias) return ps_fail(m, PS_ENOMEM, "out of memory");
  size_t D = p->feat_dim;
  if (spec->kind == POP_BT) {
    p->n_types = 1;
    p->type_reward = malloc(M * sizeof(double));
    p->type_weight = malloc(sizeof(double));
    if (!p->type_reward || !p->type_weight) return ps_fail(m, PS_ENOMEM, "out of memory");
    memcpy(p->type_reward, p->reward, M * sizeof(double));
    p->type_weight[0] = 1;
    for (size_t h = 0; h < U; h++) p->user_type[h] = 0;
  } else if (population_kind_typed(spec->kind)) {
    for (size_t h = 0; h < U; h++) {
      if (spec->per_comparison) {
        p->user_type[h] = -1;
        continue;
      }
      if (spec->balanced) {
        p->user_type[h] = (int32_t)(h % p->n_types);
        continue;
      }
      double u = gsl_rng_uniform(r), acc = 0;
      size_t k = 0;
      for (; k + 1 < p->n_types; k++) {
        acc += p->type_weight[k];
        if (u < acc) break;
      }
      p->user_type[h] = (int32_t)k;
    }
  } else {
    /* idealpoint / lowrank: own parameters */
    size_t K = spec->kind == POP_IDEALPOINT ? spec->prototypes : spec->rank;
    if (K < 1) return ps_fail(m, PS_EINVAL, "population.%s must be >= 1", spec->kind == POP_IDEALPOINT ? "prototypes" : "rank");
    if (spec->kind == POP_LOWRANK && K > D)
      return ps_fail(m, PS_EINVAL, "population.rank (%zu) cannot exceed the feature dimension (%zu)", K, D);
    if (!(spec->concentration > 0)) return ps_fail(m, PS_EINVAL, "population.concentration must be > 0");
    double *basis = malloc(K * D * sizeof(double)), *alpha = malloc(K * sizeof(double));
    p->user_vec = calloc(U * D, sizeof(double));
    p->user_weight = malloc(U * K * sizeof(double));
    if (!basis || !alpha || !p->user_vec || !p->user_weight) {
      free(basis);
      free(alpha);
      return ps_fail(m, PS_ENOMEM, "out of memory");
    }
    if (spec->kind == POP_IDEALPOINT)
      for (size_t i = 0; i < K * D; i++) basis[i] = gsl_ran_gaussian_ziggurat(r, spec->scale);
    else
      for (size_t k = 0; k < K; k++) {
        draw_orthonormal(r, D, basis, k, 0, basis + k * D);
      }
    if (spec->kind == POP_LOWRANK)
      for (size_t i = 0; i < K * D; i++) basis[i] *= spec->norm;
    for (size_t k = 0; k < K; k++) alpha[k] = spec->concentration;
    for (size_t h = 0; h < U; h++) {
      double *wh = p->user_weight + h * K;
      if (spec->kind == POP_LOWRANK && spec->free_weights)
        for (size_t k = 0; k < K; k++) wh[k] = gsl_ran_gaussian_ziggurat(r, 1.0 / sqrt((double)K));
      else
        gsl_ran_dirichlet(r, K, alpha, wh);
      for (size_t k = 0; k < K; k++)
        for (size_t i = 0; i < D; i++) p->user_vec[h * D + i] += wh[k] * basis[k * D + i];
      p->user_type[h] = -1;
    }
    free(basis);
    free(alpha);
  }
  /* competences: an exact share of careless training annotators, at random */
  size_t nc = (size_t)floor(spec->careless * (double)H + 0.5);
  size_t *idx = malloc(H * sizeof(size_t));
  if (!idx) return ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t h = 0; h < H; h++) idx[h] = h;
  if (nc > 0 && nc < H) gsl_ran_shuffle(r, idx, H, sizeof(size_t));
  for (size_t h = 0; h < H; h++) p->competence[h] = comp;
  for (size_t j = 0; j < nc; j++) p->competence[idx[j]] = spec->careless_competence;
  free(idx);
  for (size_t h = H; h < U; h++)
    p->competence[h] = gsl_rng_uniform(r) < spec->careless ? spec->careless_competence : comp;
  if (spec->bias > 0)
    for (size_t h = 0; h < U; h++) p->bias[h] = gsl_ran_gaussian_ziggurat(r, spec->bias);
  /* population-level sums over the training annotators */
  size_t T = p->n_types ? p->n_types : 1;
  p->type_comp = calloc(T, sizeof(double));
  if (!p->type_comp) return ps_fail(m, PS_ENOMEM, "out of memory");
  p->bias_term = 0;
  for (size_t h = 0; h < H; h++) {
    p->type_comp[p->user_type[h] >= 0 ? (size_t)p->user_type[h] : 0] += p->competence[h] / (double)H;
    p->bias_term += (1 - p->competence[h]) * ps_sigmoid(p->bias[h]) / (double)H;
  }
  /* the population's mean reward (designs, Kendall's tau) */
  for (size_t y = 0; y < M; y++) {
    double s = 0;
    if (p->per_comparison)
      for (size_t k = 0; k < p->n_types; k++) s += p->type_weight[k] * p->type_reward[k * M + y];
    else
      for (size_t h = 0; h < H; h++) s += population_user_reward(p, h, (int32_t)y);
    p->reward[y] = p->per_comparison ? s : s / (double)H;
  }
  return PS_OK;
}

int population_alloc(population *p, const world *w, const population_spec *spec, gsl_rng *r,
                     ps_msg *m) {
  memset(p, 0, sizeof *p);
  if (spec->spurious > 0 && (spec->kind != POP_BT || w->spec.kind != WORLD_FEATURES))
    return ps_fail(m, PS_EINVAL, "population.spurious applies to population kind bt in feature worlds");
  p->kind = spec->kind;
  p->n_items = w->n_items;
  p->per_comparison = population_kind_typed(spec->kind) && spec->per_comparison;
  p->euclidean = spec->euclidean;
  p->phi = w->phi;
  p->feat_dim = w->phi ? w->d : 0;
  if (population_kind_typed(spec->kind) || spec->kind == POP_IDEALPOINT || spec->kind == POP_LOWRANK) {
    int s = PS_OK;
    if (!population_kind_typed(spec->kind) && w->spec.kind != WORLD_FEATURES)
      s = ps_fail(m, PS_EINVAL, "population kinds idealpoint and lowrank need world.kind = features");
    if (!s && w->n_items > 50000000 / (spec->annotators + spec->new_annotators + 1))
      s = ps_fail(m, PS_EINVAL, "too many items x annotators");
    if (!s && !(p->reward = calloc(w->n_items, sizeof(double)))) s = ps_fail(m, PS_ENOMEM, "out of memory");
    if (!s && spec->kind == POP_MIXTURE) s = population_mixture(p, w, spec, r, m);
    if (!s && spec->kind == POP_LUCE) s = population_luce(p, w, spec, r, m);
    if (!s) s = population_users(p, w, spec, r, m);
    if (!s && p->per_comparison)
      for (size_t y = 0; y < w->n_items; y++) {
        double acc = 0;
        for (size_t k = 0; k < p->n_types; k++) acc += p->type_weight[k] * p->type_reward[k * w->n_items + y];
        p->reward[y] = acc;
      }
    if (s) population_free(p);
    return s;
  }
  if (spec->kind != POP_BT) {
    if (spec->annotators || spec->careless > 0 || spec->bias > 0) {
      population_free(p);
      return ps_fail(m, PS_EINVAL, "annotators are supported with population kinds bt, mixture, idealpoint and lowrank");
    }
    int s = population_general(p, w, spec, r, m);
    if (s) {
      population_free(p);
      return s;
    }
    borda(p, w->n_items);
    return PS_OK;
  }
  p->d = w->d;
  p->theta = malloc(p->d * sizeof(double));
  p->reward = malloc(w->n_items * sizeof(double));
  if (!p->theta || !p->reward) {
    population_free(p);
    return ps_fail(m, PS_ENOMEM, "out of memory drawing the population");
  }
  if (w->spec.kind == WORLD_ITEMS) {
    if (!(spec->scale >= 0)) {
      population_free(p);
      return ps_fail(m, PS_EINVAL, "population.scale must be >= 0");
    }
    double mean = 0;
    for (size_t i = 0; i < p->d; i++)
      mean += (p->theta[i] = spec->grid ? -spec->scale * (double)i : gsl_ran_gaussian_ziggurat(r, spec->scale));
    mean /= (double)p->d;
    for (size_t i = 0; i < p->d; i++) p->reward[i] = (p->theta[i] -= mean);
  } else {
    /* uniform direction: normalised Gaussian vector (over the first d - 1 coordinates
     * when the last is spurious: the true reward ignores it, the labels do not) */
    size_t dg = p->d;
    if (spec->spurious > 0) {
      if (p->d < 2 || spec->annotators) {
        population_free(p);
        return ps_fail(m, PS_EINVAL, "population.spurious needs world.dim >= 2 and no annotators");
      }
      dg = p->d - 1;
      p->theta[dg] = 0;
    }
    double nrm = 0;
    do {
      nrm = 0;
      for (size_t k = 0; k < dg; k++) {
        p->theta[k] = gsl_ran_gaussian_ziggurat(r, 1.0);
        nrm += p->theta[k] * p->theta[k];
      }
    } while (nrm == 0);
    nrm = sqrt(nrm);
    for (size_t k = 0; k < dg; k++) p->theta[k] *= spec->norm / nrm;
    for (size_t i = 0; i < w->n_items; i++) {
      const double *f = w->phi + i * w->d;
      double s = 0;
      for (size_t k = 0; k < p->d; k++) s += p->theta[k] * f[k];
      p->reward[i] = s;
    }
    if (spec->spurious > 0) {
      if (!(p->label_offset = malloc(w->n_items * sizeof(double)))) {
        population_free(p);
        return ps_fail(m, PS_ENOMEM, "out of memory drawing the population");
      }
      for (size_t i = 0; i < w->n_items; i++) p->label_offset[i] = spec->spurious * w->phi[i * w->d + dg];
    }
  }
  int us = population_users(p, w, spec, r, m);
  if (us) population_free(p);
  return us;
}

void population_free(population *p) {
  if (!p) return;
  free(p->theta);
  free(p->reward);
  free(p->embed);
  free(p->mix);
  free(p->type_reward);
  free(p->type_theta);
  free(p->type_weight);
  free(p->user_type);
  free(p->user_vec);
  free(p->user_weight);
  free(p->competence);
  free(p->bias);
  free(p->type_comp);
  free(p->label_offset);
  memset(p, 0, sizeof *p);
}

static double type_link(const noise_spec *ns, const population *p, size_t k, int32_t a, int32_t b) {
  const double *r = p->type_reward + k * p->n_items;
  return link_cdf(ns, (r[a] - r[b]) / ns->temperature);
}

double noise_prob_user_clean(const noise_spec *ns, const population *p, size_t h, int32_t a, int32_t b) {
  if (!p->n_users || h >= p->n_users) return noise_prob_clean(ns, p, a, b);
  if (p->per_comparison) {
    double q = 0;
    for (size_t k = 0; k < p->n_types; k++) q += p->type_weight[k] * type_link(ns, p, k, a, b);
    return q;
  }
  return link_cdf(ns, (population_user_reward(p, h, a) - population_user_reward(p, h, b)) / ns->temperature);
}

double noise_prob_user(const noise_spec *ns, const population *p, size_t h, int32_t a, int32_t b) {
  if (!p->n_users || h >= p->n_users) return noise_prob(ns, p, a, b);
  double c = p->competence[h];
  double q = c * noise_prob_user_clean(ns, p, h, a, b) + (1 - c) * ps_sigmoid(p->bias[h]);
  return ns->flip + (1 - 2 * ns->flip) * q;
}

/* mean over training users of c_h P_h(a, b) (with_comp) or of P_h(a, b) */
static double users_mean(const noise_spec *ns, const population *p, int32_t a, int32_t b, int with_comp) {
  size_t H = p->n_train_users;
  if (p->per_comparison) {
    double q = noise_prob_user_clean(ns, p, 0, a, b), c = 0;
    if (!with_comp) return q;
    for (size_t h = 0; h < H; h++) c += p->competence[h];
    return q * c / (double)H;
  }
  if (p->n_types) {
    double q = 0;
    for (size_t k = 0; k < p->n_types; k++) {
      double share = p->type_comp[k];
      if (!with_comp) {
        size_t cnt = 0;
        for (size_t h = 0; h < H; h++) cnt += p->user_type[h] == (int32_t)k;
        share = (double)cnt / (double)H;
      }
      if (share > 0) q += share * type_link(ns, p, k, a, b);
    }
    return q;
  }
  double q = 0;
  for (size_t h = 0; h < H; h++)
    q += (with_comp ? p->competence[h] : 1.0) * noise_prob_user_clean(ns, p, h, a, b);
  return q / (double)H;
}

double noise_prob_clean(const noise_spec *ns, const population *p, int32_t a, int32_t b) {
  if (p->n_users) return users_mean(ns, p, a, b, 0);
  if (p->per_comparison) {
    /* types drawn per comparison, no annotator ids: the label follows the marginal */
    double q = 0;
    for (size_t k = 0; k < p->n_types; k++) q += p->type_weight[k] * type_link(ns, p, k, a, b);
    return q;
  }
  switch (p->kind) {
  case POP_GPM: return link_cdf(ns, gpm_score(p, a, b) / (p->tau * ns->temperature));
  case POP_CYCLE: {
    /* antipodal items are an exact tie; sin(pi) is 1.2e-16 in floating point */
    double sc = gpm_score(p, a, b);
    if (fabs(sc) < 1e-12) sc = 0;
    return link_cdf(ns, sc / (p->tau * ns->temperature));
  }
  case POP_CONDORCET: {
    /* marginal of the per-comparison mixture: the mean of the three types' links */
    size_t M = p->n_items;
    double q = 0;
    for (size_t k = 0; k < 3; k++)
      q += link_cdf(ns, (p->mix[k * M + (size_t)a] - p->mix[k * M + (size_t)b]) / ns->temperature);
    return q / 3;
  }
  default: {
    double z = p->reward[a] - p->reward[b];
    if (p->label_offset) z += p->label_offset[a] - p->label_offset[b];
    return link_cdf(ns, z / ns->temperature);
  }
  }
}

double noise_prob(const noise_spec *ns, const population *p, int32_t a, int32_t b) {
  double q = p->n_users ? users_mean(ns, p, a, b, 1) + p->bias_term : noise_prob_clean(ns, p, a, b);
  return ns->flip + (1 - 2 * ns->flip) * q;
}
