/* experiment.c — schema tables, validation, sweep grid, per-point specs.
 *
 * Validation order: every section is known; every key of every section is known
 * and well-typed (defaults are filled in as origin "default"); sweep keys resolve
 * to exactly one schema key and each listed value is valid for it; estimator
 * types exist and their hyperparameters are valid; claim and figure sections have
 * their required keys.  The first error is reported. */
#include "experiment.h"
#include "../core/rng.h"

#include "quantity.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END {NULL, 0, NULL, 0, 0, NULL, NULL}

static const ps_param p_experiment[] = {
    {"name", PS_PARAM_TEXT, "", 0, 0, NULL,
     "experiment name, which names the output out/NAME/NAME.h5: letters, digits, '.', '_' and '-', not starting "
     "with '.', at most 100 characters (default: the file name without .ini)"},
    {"description", PS_PARAM_TEXT, "", 0, 0, NULL, "one line stored in the results file"},
    {"seed", PS_PARAM_INT, "20261127", 0, 9007199254740991.0, NULL, "master seed of every random stream"},
    {"replicates", PS_PARAM_INT, "20", 1, 1e6, NULL, "independent replicates per grid point"},
    {"common_world", PS_PARAM_BOOL, "true", 0, 0, NULL,
     "replicate r uses the same world and truth at every grid point (common random numbers)"},
    {"metrics", PS_PARAM_TEXT, "", 0, 0, NULL,
     "comma list of what to compute and store: metric names (for every estimator they apply to), truth/Q and "
     "theory/Q; those named by claims and figures are added (default: everything that applies)"},
    END};

/* The [world] keys that several kinds share; a kind's own keys come from its
 * world_type (sim.h) and are added by experiment_schema_init. */
static const ps_param p_world_common[] = {
    {"kind", PS_PARAM_ENUM, "features", 0, 0, NULL /* world_names(), by experiment_schema_init */,
     "item scores; contexts x responses with features; or a small MDP whose trajectory segments are compared"},
    {"items", PS_PARAM_INT, "20", 2, 1e7, NULL, "items (kind = items)"},
    {"contexts", PS_PARAM_INT, "200", 1, 1e8, NULL, "contexts (kind = features)"},
    {"responses", PS_PARAM_INT, "8", 2, 4096, NULL,
     "responses per context (feature worlds; metrics such as win_rate cost O(responses^2) per context)"},
    {"dim", PS_PARAM_INT, "16", 1, 4096, NULL, "feature dimension d (kind = features)"},
    {"feature_scale", PS_PARAM_REAL, "1", 1e-12, 1e12, NULL, "standard deviation of each feature"},
    {"segment_length", PS_PARAM_INT, "3", 1, 100, NULL, "MDP worlds: transitions per compared segment"},
    {"reward_features", PS_PARAM_ENUM, "cell_type", 0, 0, "cell_type|state|state_action",
     "MDP worlds: psi of the learned reward r_w = w^T psi"},
    {"drop_absorbing", PS_PARAM_BOOL, "true", 0, 0, NULL,
     "MDP worlds: redraw segments that would step out of a terminal (docs/theory.md §2.10)"},
    {"behaviour", PS_PARAM_ENUM, "uniform", 0, 0, "uniform|eps_greedy",
     "MDP worlds: policy that draws the segments (eps_greedy: greedy in A* with prob. 1 - eps)"},
    {"behaviour_eps", PS_PARAM_REAL, "0.3", 0, 1, NULL, "MDP worlds: eps of the eps-greedy behaviour"},
    END};

#define WORLD_SCHEMA_MAX 96
static ps_param p_world[WORLD_SCHEMA_MAX];

void experiment_schema_init(void) {
  static int done;
  if (done) return;
  size_t n = 0;
  for (const ps_param *q = p_world_common; q->key && n + 1 < WORLD_SCHEMA_MAX; q++) p_world[n++] = *q;
  p_world[0].choices = world_names(); /* kind */
  for (size_t t = 0; world_registry[t]; t++)
    for (const ps_param *q = world_registry[t]->params; q && q->key && n + 1 < WORLD_SCHEMA_MAX; q++) {
      int seen = 0;
      for (size_t j = 0; j < n; j++) seen |= !strcmp(p_world[j].key, q->key);
      if (!seen) p_world[n++] = *q;
    }
  p_world[n] = (ps_param)END;
  done = 1;
}

static const ps_param p_population[] = {
    {"kind", PS_PARAM_ENUM, "bt", 0, 0, "bt|gpm|cycle|condorcet|mixture|luce|idealpoint|lowrank",
     "bt: one reward; gpm: skew-symmetric embeddings; cycle: items around a circle, each beating the "
     "next; condorcet: three transitive annotator types whose mixture cycles (items worlds); mixture: K "
     "reward types of users; luce: K types choosing by Luce's rule on their own densities q_k ~ "
     "Dirichlet(concentration) over the items (items worlds, logistic link, T = 1); idealpoint: users with "
     "ideal points among prototypes (PAL-A); lowrank: per-user weights over a shared reward basis (features "
     "worlds)"},
    {"scale", PS_PARAM_REAL, "1", 0, 1e6, NULL, "standard deviation of true item scores (bt) or embeddings (gpm)"},
    {"norm", PS_PARAM_REAL, "3", 0, 1e6, NULL, "||theta*|| (features)"},
    {"scores", PS_PARAM_ENUM, "gaussian", 0, 0, "gaussian|grid",
     "bt items worlds: scores ~ N(0, scale^2), or a grid theta*_i = -scale i (centred; item 0 best, "
     "neighbours scale apart: two items give P(0 > 1) = F(scale / T) exactly)"},
    {"k", PS_PARAM_INT, "1", 1, 64, NULL, "gpm: 2-D blocks of the embedding"},
    {"tau", PS_PARAM_REAL, "1", 1e-6, 1e6, NULL, "gpm, cycle: P = sigma(s / tau)"},
    {"delta", PS_PARAM_REAL, "2", 0, 1e6, NULL, "condorcet: reward step of each annotator type"},
    {"annotators", PS_PARAM_INT, "0", 0, 1e8, NULL,
     "training annotators H (0: no annotator ids); each comparison is judged by one, in turn"},
    {"new_annotators", PS_PARAM_INT, "0", 0, 1e6, NULL, "users never in the training data (few-shot metrics)"},
    {"types", PS_PARAM_INT, "2", 1, 64, NULL, "mixture, luce: reward types K"},
    {"minority", PS_PARAM_REAL, "0.3", 0, 0.9999, NULL, "mixture, luce: total weight of types 1..K-1 (type 0 is the majority)"},
    {"angle", PS_PARAM_REAL, "90", 0, 180, NULL, "mixture: degrees between the majority type's parameter and each minority type's"},
    {"assignment", PS_PARAM_ENUM, "user", 0, 0, "user|comparison|balanced",
     "mixture, luce: a type per user drawn from the weights, per comparison (MiCRo: the same marginal, no user "
     "structure), or user h of type h mod K (equal groups; annotators = K makes each annotator id a group)"},
    {"prototypes", PS_PARAM_INT, "3", 1, 64, NULL, "idealpoint: prototypes K"},
    {"concentration", PS_PARAM_REAL, "1", 1e-6, 1e6, NULL,
     "idealpoint, lowrank simplex: Dirichlet concentration of user weights; luce: of each type's density over the items"},
    {"distance", PS_PARAM_ENUM, "squared", 0, 0, "squared|euclidean",
     "idealpoint: r_h(y) = -||phi(y) - a_h||^2 (exactly BT) or -||phi(y) - a_h|| (the PAL reference)"},
    {"rank", PS_PARAM_INT, "2", 1, 4096, NULL, "lowrank: basis size B"},
    {"weights", PS_PARAM_ENUM, "simplex", 0, 0, "simplex|free", "lowrank: user weights on the simplex (LoRe) or free (RFM)"},
    {"careless", PS_PARAM_REAL, "0", 0, 1, NULL, "share of careless annotators (NoisyBT competence, docs/theory.md §2.4)"},
    {"spurious", PS_PARAM_REAL, "0", 0, 1e6, NULL,
     "bt, feature worlds: weight of the last feature in the annotators' reward, absent from the true reward "
     "(docs/theory.md §3.13b)"},
    {"careless_competence", PS_PARAM_REAL, "0.6", 1e-6, 1, NULL, "competence sigma(gamma) of careless annotators"},
    {"competence", PS_PARAM_REAL, "1", 1e-6, 1, NULL, "competence sigma(gamma) of the other annotators"},
    {"bias", PS_PARAM_REAL, "0", 0, 100, NULL, "standard deviation of the annotators' position bias q"},
    END};

static const ps_param p_noise[] = {
    {"link", PS_PARAM_ENUM, "logistic", 0, 0, "logistic|probit", "logistic (BT) or probit (Thurstone)"},
    {"temperature", PS_PARAM_REAL, "1", 1e-12, 1e12, NULL, "T in F((r_a - r_b)/T)"},
    {"flip", PS_PARAM_REAL, "0", 0, 0.4999, NULL, "symmetric label-flip rate epsilon"},
    {"labeller", PS_PARAM_ENUM, "regret", 0, 0, "regret|partial_return",
     "MDP worlds: segments judged by regret or by partial return"},
    {"ties", PS_PARAM_ENUM, "none", 0, 0, "none|davidson|raokupper",
     "training judgements may tie: Davidson (nu) or Rao-Kupper (eta) on the strict probability (held-out "
     "pairs stay strict)"},
    {"nu", PS_PARAM_REAL, "1", 1e-6, 1e6, NULL, "ties = davidson: nu in P(tie) = nu sqrt(pi_a pi_b) / (pi_a + pi_b + same)"},
    {"eta", PS_PARAM_REAL, "0.5", 1e-6, 100, NULL, "ties = raokupper: eta in P(a > b) = sigma(r_a - r_b - eta)"},
    END};

static const ps_param p_design[] = {
    {"kind", PS_PARAM_ENUM, "uniform", 0, 0, "uniform|policy|complete",
     "uniform pairs, pairs from pi_ref, or every pair of every context in turn (balanced when contexts x "
     "pairs divides n)"},
    {"ref_temperature", PS_PARAM_REAL, "1", 1e-12, 1e12, NULL,
     "pi_ref temperature: lower = pairs concentrate on few responses (poorer coverage)"},
    {"ref_direction", PS_PARAM_ENUM, "reward", 0, 0, "reward|random|anti",
     "pi_ref scores: the true reward, a random one, or minus the reward (the optimal response is the least "
     "covered; coverage shrinks with ref_temperature)"},
    {"ranking", PS_PARAM_INT, "0", 0, 4096, NULL,
     "0: pairs; k >= 2: each training query offers k items of one context (from the design: uniform, pi_ref "
     "without replacement, or every k-subset in turn) and the annotator ranks them by Plackett-Luce on its reward "
     "(probit link: Thurstone); [data] n counts rankings (docs/theory.md §2.13)"},
    {"top", PS_PARAM_INT, "0", 0, 4096, NULL,
     "rankings: rank only the best top = m of the k offered items (1 <= m < k: a top-m ranking); 0 = all"},
    END};

static const ps_param p_data[] = {
    {"n", PS_PARAM_INT, "1000", 1, 2e9, NULL, "training comparisons (rankings when [design] ranking = k)"},
    {"heldout", PS_PARAM_INT, "2000", 1, 2e9, NULL, "held-out comparisons (evaluated against true probabilities)"},
    {"per_annotator", PS_PARAM_INT, "0", 0, 1e9, NULL,
     "training comparisons per annotator; when > 0, n = annotators x per_annotator"},
    {"shots", PS_PARAM_INT, "10", 0, 1e6, NULL, "few-shot: comparisons of each new user used to adapt to it"},
    {"shot_heldout", PS_PARAM_INT, "100", 1, 1e6, NULL, "few-shot: held-out comparisons of each new user"},
    END};

static const ps_param p_policy[] = {
    {"beta", PS_PARAM_REAL, "1", 1e-6, 1e6, NULL,
     "KL weight of the regularised policies pi ∝ pi_ref exp(r / beta) built from rewards (per-group values, MaxMin)"},
    END};

const exp_section_schema exp_schema[] = {
    {"experiment", p_experiment, "name, seed and replicates"},
    {"world", p_world, "items or contexts x responses with Gaussian features"},
    {"population", p_population, "the annotators' true preferences"},
    {"noise", p_noise, "link, temperature and label flips"},
    {"design", p_design, "which pairs (or sets, for rankings) are queried"},
    {"data", p_data, "sample sizes"},
    {"policy", p_policy, "policies built from fitted rewards and their KL anchor"},
    {NULL, NULL, NULL}};

const ps_param exp_claim_params[] = {
    {"metric", PS_PARAM_TEXT, NULL, 0, 0, NULL, "ESTIMATOR/METRIC, or truth/Q or theory/Q"},
    {"expect", PS_PARAM_ENUM, NULL, 0, 0, NULL, "slope|below|above|ratio|equal|increasing|decreasing|exact"},
    {"against", PS_PARAM_TEXT, "", 0, 0, NULL,
     "slope: the axis x in log(metric) = a + slope log(x); increasing/decreasing: the axis along which every "
     "step of the statistic (paired over replicates) must have that sign"},
    {"value", PS_PARAM_REAL, NULL, -1e300, 1e300, NULL, "expected slope or ratio, or the bound (not used by orderings)"},
    {"tol", PS_PARAM_REAL, "0", 0, 1e300, NULL,
     "slope/ratio/equal: PASS when the whole CI lies within value +- tol (tol < |value - alternative| / 2); "
     "exact: the numerical tolerance"},
    {"alternative", PS_PARAM_REAL, "nan", -1e300, 1e300, NULL,
     "slope/ratio/equal (required): the value the claim rules out — the nearest competing exponent or "
     "constant, or the no-effect value"},
    {"bias", PS_PARAM_REAL, "0", 0, 1e300, NULL,
     "slope/ratio/equal: a finite-sample bias bound derived in the claim's comment; PASS needs the CI within "
     "bias of value (0: the CI must contain value)"},
    {"other", PS_PARAM_TEXT, "", 0, 0, NULL,
     "ratio (and equal/below/above/increasing/decreasing of a paired comparison): the second ESTIMATOR/METRIC"},
    {"compare", PS_PARAM_ENUM, "ratio", 0, 0, "ratio|difference",
     "with other: compare statistic(metric) / statistic(other), or their difference (paired replicates)"},
    {"at", PS_PARAM_TEXT, "", 0, 0, NULL, "restrict to axis values, e.g. 'n=1000, dim=16'"},
    {"level", PS_PARAM_REAL, "0.95", 0.5, 0.9999, NULL,
     "confidence level of the claim's family: its k rows' intervals are each at 1 - (1 - level)/k (Bonferroni), "
     "so a claim that holds FAILs on some row with probability at most 1 - level"},
    {"family", PS_PARAM_TEXT, "claim", 0, 0, NULL,
     "the rows that share 1 - level: claim (its own rows), row (each row alone: an opt-out to justify in a "
     "comment), or a NAME shared by several claims testing one statement (all their rows)"},
    {"bootstrap", PS_PARAM_INT, "2000", 100, 1e6, NULL,
     "bootstrap resamples over replicates for a 95% interval; a row's narrower interval gets proportionally "
     "more, so that as many lie beyond each end of the interval"},
    {"statistic", PS_PARAM_ENUM, "mean", 0, 0, "mean|median|rms|max|q90|q95|q99",
     "summary over replicates (rms = sqrt(mean x^2); max: a bound that must hold for every replicate; qP: the P% "
     "quantile, linear between order statistics as numpy.quantile)"},
    {"max_missing", PS_PARAM_INT, "0", 0, 1e12, NULL,
     "values (failed fits, unfinished cells) that may be missing before the claim FAILs"},
    END};

const ps_param exp_figure_params[] = {
    {"metric", PS_PARAM_TEXT, NULL, 0, 0, NULL, "comma list of ESTIMATOR/METRIC (or truth/Q, theory/Q)"},
    {"x", PS_PARAM_TEXT, NULL, 0, 0, NULL, "axis on the horizontal"},
    {"kind", PS_PARAM_ENUM, "rate", 0, 0, "rate|line", "rate: log-log with a slope reference; line: linear"},
    {"slope", PS_PARAM_REAL, "nan", -1e300, 1e300, NULL, "reference slope drawn on a rate figure"},
    {"xscale", PS_PARAM_ENUM, "linear", 0, 0, "linear|log", "line figures: horizontal axis scale"},
    {"title", PS_PARAM_TEXT, "", 0, 0, NULL, "figure title"},
    {"ylabel", PS_PARAM_TEXT, "", 0, 0, NULL, "vertical axis label (default: the metric's long name)"},
    {"at", PS_PARAM_TEXT, "", 0, 0, NULL, "only the series at these axis values, e.g. 'flip=0.2, kind=features'"},
    {"by", PS_PARAM_TEXT, "", 0, 0, NULL,
     "comma list of axes whose values make the series (default: every axis with more than one value left)"},
    {"facet", PS_PARAM_TEXT, "", 0, 0, NULL, "axis whose values make small multiples, one panel each"},
    {"xlabel", PS_PARAM_TEXT, "", 0, 0, NULL, "horizontal axis label (default: the axis in words, with units)"},
    {"labels", PS_PARAM_TEXT, "", 0, 0, NULL, "series titles in drawing order, separated by '|'"},
    {"logx", PS_PARAM_ENUM, "auto", 0, 0, "auto|yes|no",
     "log horizontal axis (auto: rate figures, xscale = log, or positive values spanning max/min >= 20)"},
    {"logy", PS_PARAM_ENUM, "auto", 0, 0, "auto|yes|no", "log vertical axis (auto: rate figures, or as logx)"},
    {"interval", PS_PARAM_ENUM, "bars", 0, 0, "bars|band|none", "95% CI as error bars or a shaded band"},
    {"legend", PS_PARAM_ENUM, "auto", 0, 0, "auto|inside|outside|none",
     "auto: inside in a corner free of data (headroom added if needed), else outside right"},
    {"size", PS_PARAM_TEXT, "single", 0, 0, NULL, "single (8.5 cm), double (17.8 cm) or WxH in cm, e.g. 12x8"},
    END};

/* claim's expect choices are given here to keep the table above readable */
static const char *claim_expect_choices = "slope|below|above|ratio|equal|increasing|decreasing|exact";

static const exp_section_schema *find_section(const char *name) {
  for (size_t i = 0; exp_schema[i].section; i++)
    if (!strcmp(exp_schema[i].section, name)) return &exp_schema[i];
  return NULL;
}

static void keys_list(const ps_param *t, char *buf, size_t len) {
  buf[0] = 0;
  for (; t->key; t++) {
    if (buf[0]) strncat(buf, ", ", len - strlen(buf) - 1);
    strncat(buf, t->key, len - strlen(buf) - 1);
  }
}

static int entry_error(ps_msg *m, const cfg_entry *e, const char *what) {
  char where[300];
  return ps_fail(m, PS_EINVAL, "%s: [%s] %s: %s", cfg_where(e, where, sizeof where), e->section, e->key, what);
}

static int check_entry(const ps_param *p, const cfg_entry *e, ps_msg *m) {
  ps_msg sub;
  ps_param pp = *p;
  if (p == &exp_claim_params[1]) pp.type = PS_PARAM_ENUM, pp.choices = claim_expect_choices;
  if (ps_param_check(&pp, e->value, &sub) != PS_OK) return entry_error(m, e, sub.text);
  return PS_OK;
}

/* fill defaults of table t into section sec */
static int fill_defaults(cfg *c, const char *sec, const ps_param *t, ps_msg *m) {
  for (; t->key; t++) {
    if (cfg_find(c, sec, t->key)) continue;
    if (!t->def)
      return ps_fail(m, PS_EINVAL, "[%s] is missing the required key '%s' (%s)", sec, t->key, t->doc);
    if (cfg_set(c, sec, t->key, t->def, "default", 0) != PS_OK) return ps_fail(m, PS_ENOMEM, "out of memory");
  }
  return PS_OK;
}

/* split "a, b, c" into trimmed strings */
static char **split_list(const char *s, size_t *n) {
  size_t cap = 8, k = 0;
  char **out = malloc(cap * sizeof *out);
  if (!out) return NULL;
  const char *p = s;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    while (len && (*p == ' ' || *p == '\t')) p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    if (k == cap) {
      cap *= 2;
      char **no = realloc(out, cap * sizeof *no);
      if (!no) goto oom;
      out = no;
    }
    out[k] = strndup(p, len);
    if (!out[k]) goto oom;
    k++;
    if (!comma) break;
    p = comma + 1;
  }
  *n = k;
  return out;
oom:
  for (size_t i = 0; i < k; i++) free(out[i]);
  free(out);
  return NULL;
}

/* resolve a sweep key: "n" or "data.n" */
static int resolve_sweep_key(const experiment *ex, const cfg_entry *e, const char **sec, const ps_param **param,
                             ps_msg *m) {
  const char *dot = strrchr(e->key, '.');
  if (dot) {
    char secname[128];
    size_t len = (size_t)(dot - e->key);
    if (len >= sizeof secname) return entry_error(m, e, "section name too long");
    memcpy(secname, e->key, len);
    secname[len] = 0;
    const exp_section_schema *s = find_section(secname);
    if (s && (*param = ps_param_find(s->params, dot + 1))) {
      *sec = s->section;
      return PS_OK;
    }
    for (size_t i = 0; i < ex->n_estimators; i++) {
      const exp_estimator *x = &ex->estimators[i];
      if (strncmp(secname, "estimator.", 10) || strcmp(secname + 10, x->label)) continue;
      if ((*param = ps_param_find(x->type->params, dot + 1))) {
        *sec = x->section;
        return PS_OK;
      }
    }
    /* estimator hyperparameters are not sweepable by bare name, only by section.key;
     * they are resolved by the caller */
    return entry_error(m, e, "not a known section.key (world, population, noise, design, data, or "
                             "estimator.LABEL.hyperparameter)");
  }
  int found = 0;
  for (size_t i = 0; exp_schema[i].section; i++) {
    if (!strcmp(exp_schema[i].section, "experiment")) continue;
    const ps_param *p = ps_param_find(exp_schema[i].params, e->key);
    if (!p) continue;
    if (found) {
      char msg[300];
      snprintf(msg, sizeof msg, "'%s' is ambiguous (in [%s] and [%s]); write it as section.key", e->key, *sec,
               exp_schema[i].section);
      return entry_error(m, e, msg);
    }
    found = 1;
    *sec = exp_schema[i].section;
    *param = p;
  }
  if (!found) {
    char msg[600], list[400] = "";
    for (size_t i = 0; exp_schema[i].section; i++) {
      if (!strcmp(exp_schema[i].section, "experiment")) continue;
      for (const ps_param *p = exp_schema[i].params; p->key; p++) {
        if (!strcmp(p->key, "kind")) continue;
        if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, p->key, sizeof list - strlen(list) - 1);
      }
    }
    snprintf(msg, sizeof msg, "unknown sweep key; allowed: %s (or section.key)", list);
    return entry_error(m, e, msg);
  }
  return PS_OK;
}

static void outputs_free(exp_outputs *o) {
  free(o->idx);
  free(o->q);
  memset(o, 0, sizeof *o);
}

void experiment_free(experiment *e) {
  if (!e) return;
  for (size_t k = 0; e->metrics && k < e->n_estimators; k++) outputs_free(&e->metrics[k]);
  free(e->metrics);
  free(e->metric_off);
  outputs_free(&e->truth);
  outputs_free(&e->theory);
  for (size_t i = 0; i < e->n_axes; i++) {
    exp_axis *a = &e->axes[i];
    for (size_t j = 0; j < a->n; j++) free(a->text[j]);
    free(a->text);
    free(a->value);
    free(a->name);
    free(a->section);
    free(a->key);
  }
  free(e->axes);
  for (size_t i = 0; i < e->n_estimators; i++) {
    exp_estimator *x = &e->estimators[i];
    if (x->hyper)
      for (size_t j = 0; x->type && x->type->params[j].key; j++) free(x->hyper[j]);
    free(x->hyper);
    free(x->label);
    free(x->section);
  }
  free(e->estimators);
  free(e->name);
  cfg_free(e->config);
  memset(e, 0, sizeof *e);
}

static int build_estimator(experiment *e, cfg *c, const char *sec, ps_msg *m) {
  const char *label = sec + strlen("estimator.");
  if (!*label) return ps_fail(m, PS_EINVAL, "[%s]: an estimator section needs a label, e.g. [estimator.bt]", sec);
  for (const char *p = label; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return ps_fail(m, PS_EINVAL, "[%s]: the label may use letters, digits, '_' and '-' only", sec);
  const cfg_entry *te = cfg_find(c, sec, "type");
  const char *tname = te ? te->value : label;
  const est_type *t = est_lookup(tname);
  if (!t) {
    if (te) {
      char msg[600];
      snprintf(msg, sizeof msg, "unknown estimator '%s'; allowed: %s", tname, est_names());
      return entry_error(m, te, msg);
    }
    return ps_fail(m, PS_EINVAL, "[%s]: '%s' is not an estimator name; add 'type = NAME' (allowed: %s)", sec,
                   label, est_names());
  }
  if (!te && cfg_set(c, sec, "type", tname, "default", 0) != PS_OK) return ps_fail(m, PS_ENOMEM, "out of memory");
  int breaking = RANK_BREAK_FULL;
  for (size_t i = 0; i < cfg_size(c); i++) {
    const cfg_entry *x = cfg_at(c, i);
    if (strcmp(x->section, sec) || !strcmp(x->key, "type")) continue;
    if (!strcmp(x->key, "breaking")) {
      /* not a hyperparameter: how the experiment gives ranking data to a pair estimator */
      if (t->fit_rank) {
        char msg[300];
        snprintf(msg, sizeof msg, "estimator '%s' fits rankings themselves; breaking is for estimators that fit pairs",
                 t->name);
        return entry_error(m, x, msg);
      }
      if (strcmp(x->value, "full") && strcmp(x->value, "adjacent"))
        return entry_error(m, x, "breaking is full (every ranked item over every item below it) or adjacent (each "
                                 "ranked item over the next)");
      breaking = strcmp(x->value, "full") ? RANK_BREAK_ADJACENT : RANK_BREAK_FULL;
      continue;
    }
    const ps_param *p = ps_param_find(t->params, x->key);
    if (!p) {
      char list[400], msg[600];
      keys_list(t->params, list, sizeof list);
      snprintf(msg, sizeof msg, "unknown hyperparameter of estimator '%s'; allowed: type, %s%s", t->name, list,
               t->fit_rank ? "" : ", breaking (ranking data)");
      return entry_error(m, x, msg);
    }
    int s = check_entry(p, x, m);
    if (s) return s;
  }
  int s = fill_defaults(c, sec, t->params, m);
  if (s) return s;
  exp_estimator *ne = realloc(e->estimators, (e->n_estimators + 1) * sizeof *ne);
  if (!ne) return ps_fail(m, PS_ENOMEM, "out of memory");
  e->estimators = ne;
  exp_estimator *x = &e->estimators[e->n_estimators++];
  memset(x, 0, sizeof *x);
  x->type = t;
  x->breaking = breaking;
  x->label = strdup(label);
  x->section = strdup(sec);
  size_t np = 0;
  while (t->params[np].key) np++;
  x->hyper = calloc(np + 1, sizeof(char *));
  if (!x->label || !x->section || !x->hyper) return ps_fail(m, PS_ENOMEM, "out of memory");
  for (size_t j = 0; j < np; j++)
    if (!(x->hyper[j] = strdup(cfg_get(c, sec, t->params[j].key)))) return ps_fail(m, PS_ENOMEM, "out of memory");
  return PS_OK;
}

static int label_ok(const char *label) {
  if (!*label) return 0;
  for (const char *p = label; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return 0;
  return 1;
}

/* An experiment name that is a plain file name: [A-Za-z0-9._-], not empty, not
 * starting with '.', at most EXP_NAME_MAX characters.  Else 0 and why. */
static int name_ok(const char *s, char *why, size_t len) {
  size_t n = strlen(s);
  if (!n) return snprintf(why, len, "it is empty"), 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
          *p == '-' || *p == '.')) {
      unsigned char ch = (unsigned char)*p;
      if (ch == ' ')
        snprintf(why, len, "it contains a space");
      else if (ch > ' ' && ch < 0x7f)
        snprintf(why, len, "it contains '%c'", ch);
      else
        snprintf(why, len, "it contains the byte 0x%02x", ch);
      return 0;
    }
  if (s[0] == '.') return snprintf(why, len, "it starts with '.'"), 0;
  if (n > EXP_NAME_MAX) return snprintf(why, len, "it has %zu characters", n), 0;
  return 1;
}

static long axis_find(const experiment *e, const char *name) {
  for (size_t a = 0; a < e->n_axes; a++)
    if (!strcmp(e->axes[a].name, name)) return (long)a;
  return -1;
}

static void axis_names(const experiment *e, char *buf, size_t len) {
  buf[0] = 0;
  for (size_t a = 0; a < e->n_axes; a++) {
    if (a) strncat(buf, ", ", len - strlen(buf) - 1);
    strncat(buf, e->axes[a].name, len - strlen(buf) - 1);
  }
  if (!buf[0]) snprintf(buf, len, "(none: the experiment has no [sweep])");
}

static int stored(const exp_outputs *o, long row) {
  for (size_t j = 0; row >= 0 && j < o->n; j++)
    if ((long)o->idx[j] == row) return 1;
  return 0;
}

/* "EST/METRIC", "truth/Q" or "theory/Q" naming something this experiment stores */
static int metric_ok(const experiment *e, const char *path, char *why, size_t len) {
  const char *slash = strchr(path, '/');
  if (!slash || strchr(slash + 1, '/')) {
    snprintf(why, len, "'%s' is not ESTIMATOR/METRIC, truth/QUANTITY or theory/QUANTITY", path);
    return 0;
  }
  size_t hl = (size_t)(slash - path);
  const char *tail = slash + 1;
  int is_truth = hl == 5 && !strncmp(path, "truth", 5), is_theory = hl == 6 && !strncmp(path, "theory", 6);
  if (is_truth || is_theory) {
    long row = is_truth ? truth_find(tail) : theory_find(tail);
    if (row < 0) {
      snprintf(why, len, "no %s quantity '%s' (see prefsim list)", is_truth ? "truth" : "theory", tail);
      return 0;
    }
    if (!stored(is_truth ? &e->truth : &e->theory, row)) {
      snprintf(why, len, "%s/%s does not apply to this experiment's worlds and populations (%s)",
               is_truth ? "truth" : "theory", tail,
               is_truth ? truth_table[row].long_name : theory_table[row].long_name);
      return 0;
    }
    return 1;
  }
  long est = -1;
  for (size_t k = 0; k < e->n_estimators; k++)
    if (strlen(e->estimators[k].label) == hl && !strncmp(e->estimators[k].label, path, hl)) est = (long)k;
  if (est < 0) {
    char list[300] = "";
    for (size_t k = 0; k < e->n_estimators; k++) {
      if (k) strncat(list, ", ", sizeof list - strlen(list) - 1);
      strncat(list, e->estimators[k].label, sizeof list - strlen(list) - 1);
    }
    snprintf(why, len, "no estimator '%.*s' in this experiment (estimators: %s; or truth/, theory/)", (int)hl, path,
             list);
    return 0;
  }
  long row = metric_find(tail);
  if (row < 0) {
    snprintf(why, len, "no metric '%s' (see prefsim list)", tail);
    return 0;
  }
  if (!stored(&e->metrics[est], row)) {
    snprintf(why, len, "metric '%s' does not apply to estimator '%s' (%s) in this experiment's worlds (%s)", tail,
             e->estimators[est].label, e->estimators[est].type->name, metric_table[row].long_name);
    return 0;
  }
  return 1;
}

/* Mark the quantity named by path ("EST/METRIC", "truth/Q", "theory/Q" or a bare
 * metric name when bare is set) in the wanted tables; unknown names are left to the
 * caller (validate_outputs reports them with their line). */
static long mark_wanted(const char *path, int bare, unsigned char *wm, unsigned char *wt, unsigned char *wth) {
  const char *slash = strchr(path, '/');
  if (!slash) {
    long r = bare ? metric_find(path) : -1;
    if (r >= 0) wm[r] = 1;
    return r;
  }
  const char *tail = slash + 1;
  size_t hl = (size_t)(slash - path);
  long r;
  if (hl == 5 && !strncmp(path, "truth", 5)) {
    if ((r = truth_find(tail)) >= 0) wt[r] = 1;
  } else if (hl == 6 && !strncmp(path, "theory", 6)) {
    if ((r = theory_find(tail)) >= 0) wth[r] = 1;
  } else if ((r = metric_find(tail)) >= 0) {
    wm[r] = 1;
  }
  return r;
}

static int outputs_add(exp_outputs *o, size_t row, const char *name, const char *units, const char *long_name) {
  size_t *ni = realloc(o->idx, (o->n + 1) * sizeof *ni);
  if (!ni) return PS_ENOMEM;
  o->idx = ni;
  h5store_quantity *nq = realloc(o->q, (o->n + 1) * sizeof *nq);
  if (!nq) return PS_ENOMEM;
  o->q = nq;
  o->idx[o->n] = row;
  o->q[o->n++] = (h5store_quantity){name, units, long_name};
  return PS_OK;
}

/* Which estimators fit which worlds, and which quantities are computed and stored
 * (see experiment.h).  Runs with e->config set; errors name the line. */
static int build_outputs(experiment *e, const cfg *c, ps_msg *m) {
  size_t nm = metric_table_len, ntr = truth_table_len, nth = theory_table_len, ne = e->n_estimators;
  unsigned char *wm = calloc(nm, 1), *wt = calloc(ntr, 1), *wth = calloc(nth, 1);
  unsigned char *am = calloc(ne * nm + 1, 1), *at = calloc(ntr, 1), *ath = calloc(nth, 1);
  int s = PS_OK;
  char why[700];
  if (!wm || !wt || !wth || !am || !at || !ath) goto oom;
  /* 1. applicability over every grid point, and estimators against worlds */
  int any_ranking = 0;
  for (size_t p = 0; p < e->n_points; p++) {
    exp_point pt;
    if ((s = experiment_point(e, p, &pt, m))) goto done;
    any_ranking |= pt.design.ranking > 0;
    unsigned data = exp_point_data(&pt);
    for (size_t k = 0; k < ne; k++) {
      const est_type *t = e->estimators[k].type;
      if (!(t->inputs & data)) {
        const cfg_entry *x = cfg_find(c, e->estimators[k].section, "type");
        const char *wk = experiment_value(e, p, "world", "kind");
        char fits[128] = "";
        static const char *const kinds[] = {"item", "feature", "trajectory-segment"};
        for (int bit = 0, nk = 0; bit < 3; bit++)
          if (t->inputs & (1u << bit)) {
            if (nk++) strncat(fits, " or ", sizeof fits - strlen(fits) - 1);
            strncat(fits, kinds[bit], sizeof fits - strlen(fits) - 1);
          }
        snprintf(why, sizeof why, "estimator '%s' fits %s comparisons, not the %s comparisons that [world] kind = %s makes%s",
                 t->name, fits, data == EST_IN_ITEMS ? "item" : data == EST_IN_FEATURES ? "feature" : "trajectory-segment",
                 wk, e->n_points > 1 ? " (at a grid point of the sweep)" : "");
        if (x && strcmp(x->origin, "default")) s = entry_error(m, x, why);
        else s = ps_fail(m, PS_EINVAL, "[%s]: %s", e->estimators[k].section, why);
        goto done;
      }
      for (size_t i = 0; i < nm; i++)
        if (!am[k * nm + i] && metric_applies(i, t, &pt)) am[k * nm + i] = 1;
    }
    for (size_t i = 0; i < ntr; i++) at[i] |= (unsigned char)truth_applies(i, &pt);
    for (size_t i = 0; i < nth; i++) ath[i] |= (unsigned char)theory_applies(i, &pt);
  }
  for (size_t k = 0; k < ne && !any_ranking; k++) {
    const cfg_entry *x = cfg_find(c, e->estimators[k].section, "breaking");
    if (x) {
      s = entry_error(m, x, "breaking applies to ranking data, and no grid point has [design] ranking = k >= 2");
      goto done;
    }
  }
  /* 2. what the experiment asks for: its list, and what claims and figures name */
  const cfg_entry *list = cfg_find(c, "experiment", "metrics");
  int listed = list && *list->value;
  if (listed) {
    char *copy = strdup(list->value), *save = NULL;
    if (!copy) goto oom;
    for (char *t = strtok_r(copy, ",", &save); t && !s; t = strtok_r(NULL, ",", &save)) {
      while (*t == ' ') t++;
      char *end = t + strlen(t);
      while (end > t && end[-1] == ' ') *--end = 0;
      if (!*t) continue;
      int cellq = !strncmp(t, "truth/", 6) || !strncmp(t, "theory/", 7);
      if ((strchr(t, '/') && !cellq) || mark_wanted(t, 1, wm, wt, wth) < 0) {
        snprintf(why, sizeof why, "'%s' is not a metric name, truth/QUANTITY or theory/QUANTITY (see prefsim list)",
                 t);
        s = entry_error(m, list, why);
        break;
      }
      long r;
      int applies = 0;
      if (!strncmp(t, "truth/", 6)) applies = at[truth_find(t + 6)];
      else if (!strncmp(t, "theory/", 7)) applies = ath[theory_find(t + 7)];
      else
        for (size_t k = 0, r0 = (size_t)(r = metric_find(t)); k < ne; k++) applies |= am[k * nm + r0];
      if (!applies) {
        snprintf(why, sizeof why, "'%s' applies to none of this experiment's estimators, worlds and populations", t);
        s = entry_error(m, list, why);
      }
    }
    free(copy);
    if (s) goto done;
  }
  for (size_t i = 0; listed && i < cfg_size(c); i++) {
    const cfg_entry *x = cfg_at(c, i);
    int claim = !strncmp(x->section, "claim.", 6), fig = !strncmp(x->section, "figure.", 7);
    if ((!claim && !fig) || (strcmp(x->key, "metric") && strcmp(x->key, "other"))) continue;
    char *copy = strdup(x->value), *save = NULL;
    if (!copy) goto oom;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      while (*t == ' ') t++;
      char *end = t + strlen(t);
      while (end > t && end[-1] == ' ') *--end = 0;
      mark_wanted(t, 0, wm, wt, wth);
    }
    free(copy);
  }
  /* 3. the stored lists, in table order */
  e->metrics = calloc(ne + 1, sizeof *e->metrics);
  e->metric_off = calloc(ne + 1, sizeof *e->metric_off);
  if (!e->metrics || !e->metric_off) goto oom;
  e->n_metric_values = 0;
  for (size_t k = 0; k < ne; k++) {
    e->metric_off[k] = e->n_metric_values;
    for (size_t i = 0; i < nm; i++)
      if (am[k * nm + i] && (!listed || wm[i] || metric_is_fit_record(i)) &&
          outputs_add(&e->metrics[k], i, metric_table[i].name, metric_table[i].units, metric_table[i].long_name))
        goto oom;
    e->n_metric_values += e->metrics[k].n;
  }
  for (size_t i = 0; i < ntr; i++)
    if (at[i] && (!listed || wt[i]) &&
        outputs_add(&e->truth, i, truth_table[i].name, truth_table[i].units, truth_table[i].long_name))
      goto oom;
  for (size_t i = 0; i < nth; i++)
    if (ath[i] && (!listed || wth[i]) &&
        outputs_add(&e->theory, i, theory_table[i].name, theory_table[i].units, theory_table[i].long_name))
      goto oom;
  goto done;
oom:
  s = ps_fail(m, PS_ENOMEM, "out of memory");
done:
  free(wm);
  free(wt);
  free(wth);
  free(am);
  free(at);
  free(ath);
  return s;
}

/* Claims and figures name axes, values and metrics: check them now, not when the
 * sweep has run. */
static int validate_outputs(const experiment *e, const cfg *c, ps_msg *m) {
  char why[600], list[400];
  for (size_t i = 0; i < cfg_size(c); i++) {
    const cfg_entry *x = cfg_at(c, i);
    int claim = !strncmp(x->section, "claim.", 6), fig = !strncmp(x->section, "figure.", 7);
    if (!claim && !fig) continue;
    if (!strcmp(x->key, "metric") || !strcmp(x->key, "other")) {
      if (!*x->value && !strcmp(x->key, "other")) continue;
      /* figures take a comma list */
      char *copy = strdup(x->value), *save = NULL;
      if (!copy) return ps_fail(m, PS_ENOMEM, "out of memory");
      for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        char *end = t + strlen(t);
        while (end > t && end[-1] == ' ') *--end = 0;
        if ((claim && strchr(x->value, ',')) || !metric_ok(e, t, why, sizeof why)) {
          if (claim && strchr(x->value, ',')) snprintf(why, sizeof why, "a claim takes one metric");
          free(copy);
          return entry_error(m, x, why);
        }
      }
      free(copy);
    } else if ((claim && !strcmp(x->key, "against") && *x->value) || (fig && !strcmp(x->key, "x"))) {
      long a = axis_find(e, x->value);
      if (a < 0) {
        axis_names(e, list, sizeof list);
        snprintf(why, sizeof why, "no sweep axis '%s'; axes: %s", x->value, list);
        return entry_error(m, x, why);
      }
      const char *cex = claim ? cfg_get(c, x->section, "expect") : NULL;
      int order = cex && (!strcmp(cex, "increasing") || !strcmp(cex, "decreasing"));
      if (!e->axes[a].numeric && !order) {
        snprintf(why, sizeof why, "axis '%s' is not numeric", x->value);
        return entry_error(m, x, why);
      }
      const char *kind = fig ? cfg_get(c, x->section, "kind") : order ? "line" : "rate";
      const char *xs = fig ? cfg_get(c, x->section, "xscale") : NULL;
      int logx = !kind || !strcmp(kind, "rate") || (xs && !strcmp(xs, "log"));
      for (size_t j = 0; logx && j < e->axes[a].n; j++)
        if (!(e->axes[a].value[j] > 0)) {
          snprintf(why, sizeof why, "axis '%s' has the value %s, which a log %s cannot show%s", x->value,
                   e->axes[a].text[j], fig ? "axis" : "slope", fig ? " (use kind = line, xscale = linear)" : "");
          return entry_error(m, x, why);
        }
    } else if ((claim || fig) && !strcmp(x->key, "at") && *x->value) {
      char *copy = strdup(x->value), *save = NULL;
      unsigned char seen[EXP_MAX_AXIS_VALUES] = {0};
      if (!copy) return ps_fail(m, PS_ENOMEM, "out of memory");
      for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        char *eq = strchr(t, '=');
        if (!eq) {
          snprintf(why, sizeof why, "'%s' is not axis=value", t);
          free(copy);
          return entry_error(m, x, why);
        }
        *eq = 0;
        char *val = eq + 1;
        for (char *q = eq - 1; q >= t && *q == ' '; q--) *q = 0;
        while (*val == ' ') val++;
        for (char *q = val + strlen(val); q > val && q[-1] == ' ';) *--q = 0;
        long a = axis_find(e, t);
        if (a < 0 || seen[a]) {
          axis_names(e, list, sizeof list);
          if (a < 0) snprintf(why, sizeof why, "no sweep axis '%s'; axes: %s", t, list);
          else snprintf(why, sizeof why, "axis '%s' is given twice", t);
          free(copy);
          return entry_error(m, x, why);
        }
        seen[a] = 1;
        const char *ag = cfg_get(c, x->section, "against");
        if (ag && !strcmp(ag, t)) {
          snprintf(why, sizeof why, "'%s' is the slope's own axis: it cannot be fixed", t);
          free(copy);
          return entry_error(m, x, why);
        }
        int hit = 0;
        char *end = NULL;
        double num = e->axes[a].numeric ? strtod(val, &end) : 0;
        for (size_t j = 0; j < e->axes[a].n; j++)
          if (e->axes[a].numeric ? (end != val && !*end && e->axes[a].value[j] == num) : !strcmp(e->axes[a].text[j], val))
            hit = 1;
        if (!hit) {
          snprintf(why, sizeof why, "axis '%s' has no value '%s'", t, val);
          free(copy);
          return entry_error(m, x, why);
        }
      }
      free(copy);
    }
  }
  /* per claim: what its kind needs */
  for (size_t i = 0; i < cfg_size(c); i++) {
    const cfg_entry *x = cfg_at(c, i);
    if (strncmp(x->section, "claim.", 6) || strcmp(x->key, "expect")) continue;
    const char *other = cfg_get(c, x->section, "other"), *against = cfg_get(c, x->section, "against");
    if (!strcmp(x->value, "ratio") && (!other || !*other))
      return entry_error(m, x, "a ratio needs 'other = ESTIMATOR/METRIC' (the denominator)");
    if (!strcmp(x->value, "slope") && (!against || !*against))
      return entry_error(m, x, "a slope needs 'against = AXIS'");
    if (!strcmp(x->value, "slope") && other && *other)
      return entry_error(m, x, "a slope takes no 'other' (the slope of a ratio is not supported)");
    int band = !strcmp(x->value, "slope") || !strcmp(x->value, "ratio") || !strcmp(x->value, "equal");
    const char *alt_text = cfg_get(c, x->section, "alternative");
    double value = strtod(cfg_get(c, x->section, "value") ? cfg_get(c, x->section, "value") : "nan", NULL);
    double tol = strtod(cfg_get(c, x->section, "tol") ? cfg_get(c, x->section, "tol") : "0", NULL);
    double alt = strtod(alt_text ? alt_text : "nan", NULL);
    double bias = strtod(cfg_get(c, x->section, "bias") ? cfg_get(c, x->section, "bias") : "0", NULL);
    char cwhy[320];
    if (band && !isfinite(alt)) {
      snprintf(cwhy, sizeof cwhy,
               "a %s claim names what it rules out: add 'alternative = VALUE' (the nearest competing exponent or "
               "constant, or the no-effect value) and a tol below half its distance from value",
               x->value);
      return entry_error(m, x, cwhy);
    }
    if (band && !(tol > 0 && tol < fabs(value - alt) / 2)) {
      snprintf(cwhy, sizeof cwhy,
               "tol = %g must be > 0 and below half the distance |value - alternative| / 2 = %g, or the band "
               "cannot exclude the alternative",
               tol, fabs(value - alt) / 2);
      const cfg_entry *te = cfg_find(c, x->section, "tol");
      return entry_error(m, te && te->line > 0 ? te : x, cwhy);
    }
    if (band && bias > tol) {
      snprintf(cwhy, sizeof cwhy, "bias = %g is larger than tol = %g: the band would not hold the biased value", bias,
               tol);
      return entry_error(m, cfg_find(c, x->section, "bias"), cwhy);
    }
    if (!band && isfinite(alt))
      return entry_error(m, cfg_find(c, x->section, "alternative"),
                         "only slope, ratio and equal claims take 'alternative': a bound's or an ordering's "
                         "alternative is the opposite side, and an exact check has none");
    const char *fam = cfg_get(c, x->section, "family");
    if (fam && *fam) {
      int ok = 1;
      for (const char *q = fam; *q; q++)
        if (!(isalnum((unsigned char)*q) || *q == '_' || *q == '-')) ok = 0;
      if (!ok)
        return entry_error(m, cfg_find(c, x->section, "family"),
                           "family is claim, row, or a name (letters, digits, '_', '-') shared by the claims whose "
                           "rows test one statement");
      if (strcmp(fam, "claim") && strcmp(fam, "row")) {
        /* a named family shares one alpha: its claims must state the same level */
        const char *lv = cfg_get(c, x->section, "level");
        for (size_t j = 0; j < cfg_size(c); j++) {
          const cfg_entry *y = cfg_at(c, j);
          if (strncmp(y->section, "claim.", 6) || strcmp(y->key, "family") || strcmp(y->value, fam)) continue;
          const char *lw = cfg_get(c, y->section, "level");
          if (strtod(lv ? lv : "0.95", NULL) != strtod(lw ? lw : "0.95", NULL)) {
            snprintf(cwhy, sizeof cwhy, "the claims of family '%s' share one alpha: [%s] and [%s] state different levels",
                     fam, x->section, y->section);
            return entry_error(m, cfg_find(c, x->section, "family"), cwhy);
          }
        }
      }
    }
    int ordering = !strcmp(x->value, "increasing") || !strcmp(x->value, "decreasing");
    if (ordering && (!against || !*against))
      return entry_error(m, x, "an ordering needs 'against = AXIS'");
  }
  return PS_OK;
}

int experiment_build(experiment *e, cfg *c, const char *default_name, ps_msg *m) {
  experiment_schema_init();
  memset(e, 0, sizeof *e);
  int s = PS_OK;
  /* 0. sections written without keys: an estimator takes its defaults; anything
   * else that needs keys is an error naming the line */
  for (size_t i = 0; i < cfg_n_headers(c); i++) {
    const cfg_entry *h = cfg_header_at(c, i);
    int has = 0;
    for (size_t j = 0; j < cfg_size(c) && !has; j++) has = !strcmp(cfg_at(c, j)->section, h->section);
    if (has) continue;
    char where[300];
    cfg_where(h, where, sizeof where);
    if (!strncmp(h->section, "estimator.", 10)) {
      if (cfg_set(c, h->section, "type", h->section + 10, h->origin, h->line)) goto oom;
    } else if (!strncmp(h->section, "claim.", 6) || !strncmp(h->section, "figure.", 7)) {
      s = ps_fail(m, PS_EINVAL, "%s: section [%s] is empty; it needs at least metric%s", where, h->section,
                  h->section[0] == 'c' ? ", expect and value" : " and x");
      goto fail;
    } else if (!find_section(h->section) && strcmp(h->section, "sweep")) {
      s = ps_fail(m, PS_EINVAL,
                  "%s: unknown section [%s]; allowed: [experiment] [world] [population] [noise] [design] "
                  "[data] [policy] [sweep] [estimator.LABEL] [claim.NAME] [figure.NAME]",
                  where, h->section);
      goto fail;
    }
  }
  /* 1. sections and keys */
  for (size_t i = 0; i < cfg_size(c); i++) {
    const cfg_entry *x = cfg_at(c, i);
    const exp_section_schema *sch = find_section(x->section);
    if (sch) {
      const ps_param *p = ps_param_find(sch->params, x->key);
      if (!p) {
        char list[400], msg[600];
        keys_list(sch->params, list, sizeof list);
        snprintf(msg, sizeof msg, "unknown key; allowed in [%s]: %s", x->section, list);
        s = entry_error(m, x, msg);
        goto fail;
      }
      if ((s = check_entry(p, x, m))) goto fail;
    } else if (!strncmp(x->section, "claim.", 6) || !strncmp(x->section, "figure.", 7)) {
      const char *label = strchr(x->section, '.') + 1;
      if (!label_ok(label)) {
        char where[300];
        s = ps_fail(m, PS_EINVAL, "%s: [%s]: the name after the dot may use letters, digits, '_' and '-' only",
                    cfg_where(x, where, sizeof where), x->section);
        goto fail;
      }
      const ps_param *t = x->section[0] == 'c' ? exp_claim_params : exp_figure_params;
      const ps_param *p = ps_param_find(t, x->key);
      if (!p) {
        char list[400], msg[600];
        keys_list(t, list, sizeof list);
        snprintf(msg, sizeof msg, "unknown key; allowed: %s", list);
        s = entry_error(m, x, msg);
        goto fail;
      }
      if ((s = check_entry(p, x, m))) goto fail;
    } else if (strcmp(x->section, "sweep") && strncmp(x->section, "estimator.", 10)) {
      char where[300];
      s = ps_fail(m, PS_EINVAL,
                  "%s: unknown section [%s]; allowed: [experiment] [world] [population] [noise] [design] "
                  "[data] [policy] [sweep] [estimator.LABEL] [claim.NAME] [figure.NAME]",
                  cfg_where(x, where, sizeof where), x->section);
      goto fail;
    }
  }
  for (size_t i = 0; exp_schema[i].section; i++)
    if ((s = fill_defaults(c, exp_schema[i].section, exp_schema[i].params, m))) goto fail;
  /* 2. estimators (in order of appearance) and claims / figures defaults */
  for (size_t i = 0; i < cfg_size(c); i++) {
    const cfg_entry *x = cfg_at(c, i);
    int first = 1;
    for (size_t j = 0; j < i; j++)
      if (!strcmp(cfg_at(c, j)->section, x->section)) first = 0;
    if (!first) continue;
    char sec[256];
    snprintf(sec, sizeof sec, "%s", x->section);
    if (!strncmp(sec, "estimator.", 10)) {
      if ((s = build_estimator(e, c, sec, m))) goto fail;
    } else if (!strncmp(sec, "claim.", 6)) {
      const char *ex = cfg_get(c, sec, "expect");
      if (ex && (!strcmp(ex, "increasing") || !strcmp(ex, "decreasing")) && !cfg_find(c, sec, "value") &&
          cfg_set(c, sec, "value", "0", "default", 0))
        goto oom;
      if ((s = fill_defaults(c, sec, exp_claim_params, m))) goto fail;
    } else if (!strncmp(sec, "figure.", 7)) {
      if ((s = fill_defaults(c, sec, exp_figure_params, m))) goto fail;
    }
  }
  if (e->n_estimators == 0) {
    s = ps_fail(m, PS_EINVAL, "%s: no [estimator.LABEL] section: name at least one estimator to fit, e.g. "
                "[estimator.bt] (estimators: %s)", cfg_size(c) ? cfg_at(c, 0)->origin : "config",
                est_names());
    goto fail;
  }
  /* 3. sweep axes */
  for (size_t i = 0; i < cfg_size(c); i++) {
    const cfg_entry *x = cfg_at(c, i);
    if (strcmp(x->section, "sweep")) continue;
    const char *sec = NULL;
    const ps_param *p = NULL;
    if ((s = resolve_sweep_key(e, x, &sec, &p, m))) goto fail;
    if (!strcmp(sec, "experiment")) {
      s = entry_error(m, x, "[experiment] keys (seed, replicates, ...) cannot be swept; replicates are the "
                            "last axis already");
      goto fail;
    }
    /* the axis is named by its bare key, or section.key when that name is taken */
    const char *bare = strrchr(x->key, '.') ? strrchr(x->key, '.') + 1 : x->key;
    char fullname[300];
    snprintf(fullname, sizeof fullname, "%s.%s", sec, p->key);
    for (size_t a = 0; a < e->n_axes; a++) {
      if (!strcmp(e->axes[a].section, sec) && !strcmp(e->axes[a].key, p->key)) {
        s = entry_error(m, x, "this key is already a sweep axis");
        goto fail;
      }
      if (!strcmp(e->axes[a].name, bare)) bare = fullname;
    }
    exp_axis *na = realloc(e->axes, (e->n_axes + 1) * sizeof *na);
    if (!na) goto oom;
    e->axes = na;
    exp_axis *ax = &e->axes[e->n_axes++];
    memset(ax, 0, sizeof *ax);
    ax->name = strdup(bare);
    ax->section = strdup(sec);
    ax->key = strdup(p->key);
    ax->text = split_list(x->value, &ax->n);
    if (!ax->name || !ax->section || !ax->key || !ax->text) goto oom;
    ax->value = malloc(ax->n * sizeof(double));
    if (!ax->value) goto oom;
    ax->numeric = p->type == PS_PARAM_INT || p->type == PS_PARAM_REAL;
    ax->integer = p->type == PS_PARAM_INT;
    ax->doc = p->doc;
    for (size_t j = 0; j < ax->n; j++) {
      ps_msg sub;
      if (ps_param_check(p, ax->text[j], &sub) != PS_OK) {
        char msg[700];
        snprintf(msg, sizeof msg, "value %zu of the sweep ('%s') is invalid for [%s] %s: %s", j + 1, ax->text[j],
                 sec, p->key, sub.text);
        s = entry_error(m, x, msg);
        goto fail;
      }
      ax->value[j] = ax->numeric ? ps_param_real(ax->text[j]) : NAN;
      for (size_t k = 0; k < j; k++)
        if (ax->numeric ? ax->value[k] == ax->value[j] : !strcmp(ax->text[k], ax->text[j])) {
          char msg[300];
          snprintf(msg, sizeof msg, "value '%s' is listed twice", ax->text[j]);
          s = entry_error(m, x, msg);
          goto fail;
        }
    }
  }
  if (e->n_estimators > EXP_MAX_ESTIMATORS) {
    s = ps_fail(m, PS_EINVAL, "%zu estimator sections; at most %d per experiment", e->n_estimators,
                EXP_MAX_ESTIMATORS);
    goto fail;
  }
  e->n_points = 1;
  for (size_t a = 0; a < e->n_axes; a++) {
    if (e->axes[a].n > EXP_MAX_AXIS_VALUES || e->n_points > (size_t)1e12 / e->axes[a].n) {
      s = ps_fail(m, PS_EINVAL, "the sweep is too large (axis '%s' has %zu values; at most %d per axis and 1e12 "
                  "grid points)", e->axes[a].name, e->axes[a].n, EXP_MAX_AXIS_VALUES);
      goto fail;
    }
    e->n_points *= e->axes[a].n;
  }
  /* 4. experiment scalars */
  e->seed = (uint64_t)ps_param_real(cfg_get(c, "experiment", "seed"));
  e->replicates = (size_t)ps_param_int(cfg_get(c, "experiment", "replicates"));
  e->common_world = ps_param_bool(cfg_get(c, "experiment", "common_world"));
  /* the name makes output paths (out/NAME/NAME.h5): a plain file name, or an error
   * naming where it was given */
  const cfg_entry *nx = cfg_find(c, "experiment", "name");
  const char *nm = nx && strcmp(nx->origin, "default") ? nx->value : "";
  char why[120];
  if (nx && strcmp(nx->origin, "default") && !name_ok(nm, why, sizeof why)) {
    char msg[600];
    snprintf(msg, sizeof msg, "'%.120s' is not allowed: %s; the name makes the output path out/NAME/NAME.h5, so "
             "it may use letters, digits, '.', '_' and '-' only, not start with '.', and have at most %d characters",
             nm, why, EXP_NAME_MAX);
    s = entry_error(m, nx, msg);
    goto fail;
  }
  if (!*nm && default_name && !name_ok(default_name, why, sizeof why)) {
    s = ps_fail(m, PS_EINVAL, "%s: no [experiment] name, and the file name '%.120s' is not allowed as one: %s; set "
                "[experiment] name = NAME (letters, digits, '.', '_' and '-', not starting with '.', at most %d "
                "characters: it makes the output path out/NAME/NAME.h5)",
                cfg_size(c) ? cfg_at(c, 0)->origin : "config", default_name, why, EXP_NAME_MAX);
    goto fail;
  }
  e->name = strdup(*nm ? nm : (default_name ? default_name : "experiment"));
  if (!e->name) goto oom;
  if (!*cfg_get(c, "experiment", "name") && cfg_set(c, "experiment", "name", e->name, "default", 0)) goto oom;
  /* 5. a command-line override of a swept key would be silently ignored */
  for (size_t a = 0; a < e->n_axes; a++) {
    const cfg_entry *x = cfg_find(c, e->axes[a].section, e->axes[a].key);
    if (x && !strcmp(x->origin, "command line")) {
      s = ps_fail(m, PS_EINVAL, "command line: %s.%s=%s is swept by [sweep]; override the axis instead, e.g. "
                  "sweep.%s=%s", e->axes[a].section, e->axes[a].key, x->value, e->axes[a].name, x->value);
      goto fail;
    }
  }
  /* 6. combinations that no grid point may have */
  e->config = c;
  world_spec prev_world;
  memset(&prev_world, 0, sizeof prev_world);
  for (size_t pt = 0; pt < e->n_points && pt < 100000; pt++) {
    const char *pk = experiment_value(e, pt, "population", "kind"), *wk = experiment_value(e, pt, "world", "kind");
    int item_only = !strcmp(pk, "gpm") || !strcmp(pk, "cycle") || !strcmp(pk, "condorcet") || !strcmp(pk, "luce");
    int feat_only = !strcmp(pk, "idealpoint") || !strcmp(pk, "lowrank");
    const world_type *wt = world_lookup(wk);
    int mdp = wt && wt->kind == WORLD_SEGMENTS;
    if ((item_only && strcmp(wk, "items")) || (feat_only && strcmp(wk, "features")) ||
        (mdp && strcmp(pk, "bt"))) {
      e->config = NULL;
      const cfg_entry *x = cfg_find(c, "population", "kind");
      char where[300] = "default";
      if (x) cfg_where(x, where, sizeof where);
      s = ps_fail(m, PS_EINVAL, "%s: [population] kind = %s needs [world] kind = %s (a grid point has kind = %s)",
                  where, pk, item_only ? "items" : feat_only ? "features" : "items or features", wk);
      goto fail;
    }
    const char *lk = experiment_value(e, pt, "noise", "link"), *tk = experiment_value(e, pt, "noise", "temperature");
    if (!strcmp(pk, "luce") && (strcmp(lk, "logistic") || ps_param_real(tk) != 1)) {
      s = ps_fail(m, PS_EINVAL, "[population] kind = luce is Luce's choice rule: it needs [noise] link = logistic and "
                  "temperature = 1 (a grid point has link = %s, temperature = %s)", lk, tk);
      e->config = NULL;
      goto fail;
    }
    exp_point xp;
    if ((s = experiment_point(e, pt, &xp, m))) {
      e->config = NULL;
      goto fail;
    }
    /* the world's own checks (a behaviours world's responses, a spurious world's tail):
     * built once per distinct world setting of the grid, so that a bad setting is an error
     * here, naming the section, and not a sweep of silently failed cells */
    if (xp.world.type && xp.world.type->alloc &&
        (pt == 0 || memcmp(&xp.world, &prev_world, sizeof xp.world))) {
      prev_world = xp.world;
      double size = (double)(xp.world.kind == WORLD_ITEMS ? xp.world.items
                                                          : (double)xp.world.contexts * (double)xp.world.responses) *
                    (double)(xp.world.dim ? xp.world.dim : 1);
      if (size <= 1e7) {
        gsl_rng *wr = ps_rng_alloc();
        world w;
        ps_msg wm = {{0}};
        int ws = wr ? world_alloc(&w, &xp.world, wr, &wm) : PS_ENOMEM;
        if (wr) gsl_rng_free(wr);
        if (ws == PS_OK) {
          world_free(&w);
        } else {
          e->config = NULL;
          const cfg_entry *x = cfg_find(c, "world", "kind");
          char where[300] = "[world]";
          if (x) cfg_where(x, where, sizeof where);
          s = ps_fail(m, ws, "%s: [world] kind = %s: %s", where, xp.world.type->name,
                      ws == PS_ENOMEM ? "out of memory" : wm.text);
          goto fail;
        }
      }
    }
  }
  /* 7. estimators against worlds; what is computed and stored */
  if ((s = build_outputs(e, c, m))) {
    e->config = NULL;
    goto fail;
  }
  e->config = NULL;
  /* 8. claims and figures name axes, values and metrics that exist */
  if ((s = validate_outputs(e, c, m))) goto fail;
  e->config = c;
  return PS_OK;
oom:
  s = ps_fail(m, PS_ENOMEM, "out of memory");
fail:
  e->config = NULL;
  experiment_free(e);
  return s;
}

void experiment_point_index(const experiment *e, size_t p, size_t *idx) {
  for (size_t a = e->n_axes; a-- > 0;) {
    idx[a] = p % e->axes[a].n;
    p /= e->axes[a].n;
  }
}

const char *experiment_value(const experiment *e, size_t p, const char *section, const char *key) {
  for (size_t a = e->n_axes; a-- > 0;) {
    size_t i = p % e->axes[a].n;
    p /= e->axes[a].n;
    if (!strcmp(e->axes[a].section, section) && !strcmp(e->axes[a].key, key)) return e->axes[a].text[i];
  }
  return cfg_get(e->config, section, key);
}

int experiment_point(const experiment *e, size_t p, exp_point *o, ps_msg *m) {
#define V(s, k) experiment_value(e, p, s, k)
  memset(o, 0, sizeof *o);
  const world_type *wt = world_lookup(V("world", "kind"));
  if (!wt) return ps_fail(m, PS_EINVAL, "[world] kind = %s is not a world (allowed: %s)", V("world", "kind"), world_names());
  o->world.type = wt;
  o->world.kind = wt->kind;
  for (size_t i = 0; wt->params && wt->params[i].key && i < WORLD_MAX_OWN; i++)
    o->world.own[i] = ps_param_real(V("world", wt->params[i].key));
  o->world.behaviour = strcmp(V("world", "behaviour"), "eps_greedy") ? 0 : 1;
  o->world.behaviour_eps = ps_param_real(V("world", "behaviour_eps"));
  o->world.segment_length = (size_t)ps_param_int(V("world", "segment_length"));
  const char *rf = V("world", "reward_features");
  o->world.features = !strcmp(rf, "state") ? 1 : !strcmp(rf, "state_action") ? 2 : 0;
  o->world.drop_absorbing = ps_param_bool(V("world", "drop_absorbing"));
  o->world.labeller = strcmp(V("noise", "labeller"), "partial_return") ? 1 : 0;
  o->world.items = (size_t)ps_param_int(V("world", "items"));
  o->world.contexts = (size_t)ps_param_int(V("world", "contexts"));
  o->world.responses = (size_t)ps_param_int(V("world", "responses"));
  o->world.dim = (size_t)ps_param_int(V("world", "dim"));
  o->world.feature_scale = ps_param_real(V("world", "feature_scale"));
  const char *pk = V("population", "kind");
  o->population.kind = !strcmp(pk, "gpm") ? POP_GPM : !strcmp(pk, "cycle") ? POP_CYCLE
                       : !strcmp(pk, "condorcet") ? POP_CONDORCET : !strcmp(pk, "mixture") ? POP_MIXTURE
                       : !strcmp(pk, "luce") ? POP_LUCE : !strcmp(pk, "idealpoint") ? POP_IDEALPOINT : !strcmp(pk, "lowrank") ? POP_LOWRANK : POP_BT;
  o->population.annotators = (size_t)ps_param_int(V("population", "annotators"));
  o->population.new_annotators = (size_t)ps_param_int(V("population", "new_annotators"));
  o->population.types = (size_t)ps_param_int(V("population", "types"));
  o->population.minority = ps_param_real(V("population", "minority"));
  o->population.angle = ps_param_real(V("population", "angle"));
  o->population.per_comparison = !strcmp(V("population", "assignment"), "comparison");
  o->population.balanced = !strcmp(V("population", "assignment"), "balanced");
  o->population.prototypes = (size_t)ps_param_int(V("population", "prototypes"));
  o->population.concentration = ps_param_real(V("population", "concentration"));
  o->population.euclidean = !strcmp(V("population", "distance"), "euclidean");
  o->population.rank = (size_t)ps_param_int(V("population", "rank"));
  o->population.free_weights = !strcmp(V("population", "weights"), "free");
  o->population.careless = ps_param_real(V("population", "careless"));
  o->population.spurious = ps_param_real(V("population", "spurious"));
  o->population.careless_competence = ps_param_real(V("population", "careless_competence"));
  o->population.competence = ps_param_real(V("population", "competence"));
  o->population.bias = ps_param_real(V("population", "bias"));
  o->population.k = (size_t)ps_param_int(V("population", "k"));
  o->population.tau = ps_param_real(V("population", "tau"));
  o->population.delta = ps_param_real(V("population", "delta"));
  o->population.scale = ps_param_real(V("population", "scale"));
  o->population.norm = ps_param_real(V("population", "norm"));
  o->population.grid = !strcmp(V("population", "scores"), "grid");
  o->noise.link = strcmp(V("noise", "link"), "probit") ? LINK_LOGISTIC : LINK_PROBIT;
  o->noise.temperature = ps_param_real(V("noise", "temperature"));
  o->noise.flip = ps_param_real(V("noise", "flip"));
  {
    const char *t = V("noise", "ties");
    o->noise.ties = !strcmp(t, "davidson") ? NOISE_TIES_DAVIDSON : !strcmp(t, "raokupper") ? NOISE_TIES_RAOKUPPER
                                                                                            : NOISE_TIES_NONE;
  }
  o->noise.nu = ps_param_real(V("noise", "nu"));
  o->noise.eta = ps_param_real(V("noise", "eta"));
  const char *dk = V("design", "kind");
  o->design.kind = !strcmp(dk, "policy") ? DESIGN_POLICY : !strcmp(dk, "complete") ? DESIGN_COMPLETE : DESIGN_UNIFORM;
  o->design.ref_temperature = ps_param_real(V("design", "ref_temperature"));
  const char *rd = V("design", "ref_direction");
  o->design.ref = !strcmp(rd, "random") ? REF_RANDOM : !strcmp(rd, "anti") ? REF_ANTI : REF_REWARD;
  o->design.ranking = (size_t)ps_param_int(V("design", "ranking"));
  o->design.top = (size_t)ps_param_int(V("design", "top"));
  {
    const cfg_entry *x = cfg_find(e->config, "design", o->design.top && !o->design.ranking ? "top" : "ranking");
    char wr[300] = "config";
    if (x) cfg_where(x, wr, sizeof wr);
    size_t per = wt->kind == WORLD_ITEMS ? o->world.items : o->world.responses;
    if (o->design.ranking == 1)
      return ps_fail(m, PS_EINVAL, "%s: [design] ranking = 1: a ranking offers k >= 2 items (0 = pairs)", wr);
    if (o->design.top && !o->design.ranking)
      return ps_fail(m, PS_EINVAL, "%s: [design] top = %zu applies to rankings: set [design] ranking = k", wr,
                     o->design.top);
    if (o->design.ranking) {
      if (wt->kind == WORLD_SEGMENTS)
        return ps_fail(m, PS_EINVAL, "%s: [design] ranking = %zu: rankings are of items or responses, not of the "
                       "trajectory segments of [world] kind = %s", wr, o->design.ranking, wt->name);
      if (o->design.ranking > per)
        return ps_fail(m, PS_EINVAL, "%s: [design] ranking = %zu is more than the %zu %s per context", wr,
                       o->design.ranking, per, wt->kind == WORLD_ITEMS ? "items" : "responses");
      if (o->design.top >= o->design.ranking)
        return ps_fail(m, PS_EINVAL, "%s: [design] top = %zu: a top-m ranking of %zu items has 1 <= m <= %zu (0 = all)",
                       wr, o->design.top, o->design.ranking, o->design.ranking - 1);
      if (strcmp(V("noise", "ties"), "none"))
        return ps_fail(m, PS_EINVAL, "%s: [design] ranking = %zu with [noise] ties = %s: ties are a pair model; "
                       "rankings take ties = none", wr, o->design.ranking, V("noise", "ties"));
      if (!strcmp(pk, "gpm") || !strcmp(pk, "cycle"))
        return ps_fail(m, PS_EINVAL, "%s: [design] ranking = %zu with [population] kind = %s: it has no reward to "
                       "rank by (rankings take bt, condorcet, mixture, idealpoint or lowrank)", wr, o->design.ranking, pk);
    }
  }
  o->n_train = (size_t)ps_param_int(V("data", "n"));
  o->n_heldout = (size_t)ps_param_int(V("data", "heldout"));
  size_t per = (size_t)ps_param_int(V("data", "per_annotator"));
  char where[300];
  if (per > 0) {
    if (!o->population.annotators)
      return ps_fail(m, PS_EINVAL, "%s: [data] per_annotator = %zu needs [population] annotators >= 1",
                     cfg_find(e->config, "data", "per_annotator") ? cfg_where(cfg_find(e->config, "data", "per_annotator"), where, sizeof where) : "config", per);
    o->n_train = per * o->population.annotators;
  }
  o->shots = (size_t)ps_param_int(V("data", "shots"));
  o->shot_heldout = (size_t)ps_param_int(V("data", "shot_heldout"));
  o->beta = ps_param_real(V("policy", "beta"));
#undef V
  return PS_OK;
}
