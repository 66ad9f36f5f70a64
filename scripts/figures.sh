#!/usr/bin/env bash
# make figures: run every shipped experiment, verify it, draw its figures under
# out/<name>/, and refresh the README's figures in docs/figures/.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for ini in experiments/*.ini; do
  name=$(basename "$ini" .ini)
  echo "== $name"
  ./prefsim run "$ini" -o "out/$name/$name.h5" --force
  ./prefsim verify "out/$name/$name.h5" || status=1
  ./prefsim plot "out/$name/$name.h5"
done
mkdir -p docs/figures
cp out/bt_rate/bt_rate_rate_n.png docs/figures/bt_rate_n.png
cp out/bt_rate/bt_rate_rate_d.png docs/figures/bt_rate_d.png
cp out/mle_quantile/mle_quantile_quantile.png docs/figures/mle_quantile.png
cp out/bt_items/bt_items_rate.png docs/figures/bt_items.png
cp out/condorcet/condorcet_exploitability.png docs/figures/condorcet.png
cp out/cyclic/cyclic_accuracy.png docs/figures/cyclic.png
cp out/minimax/minimax_hedge.png docs/figures/minimax.png
cp out/regret_identifiability/regret_identifiability_returns.png docs/figures/regret_identifiability.png
cp out/regret_identifiability/regret_identifiability_greedy.png docs/figures/regret_identifiability_greedy.png
cp out/maxmin_gap/maxmin_gap_minority_gap.png docs/figures/maxmin_gap.png
cp out/mixture_irreducible/mixture_irreducible_excess.png docs/figures/mixture_irreducible.png
cp out/noisy_annotators/noisy_annotators_param_err.png docs/figures/noisy_annotators.png
cp out/ideal_point/ideal_point_fewshot.png docs/figures/ideal_point.png
cp out/coverage/coverage_kl_ref.png docs/figures/coverage_kl_ref.png
cp out/coverage/coverage_pessimism.png docs/figures/coverage_pessimism.png
cp out/dr_misspec/dr_misspec_error.png docs/figures/dr_misspec.png
cp out/grpo_worstgroup/grpo_worstgroup_gap.png docs/figures/grpo_worstgroup.png
cp out/rdpo_noise/rdpo_noise_rates.png docs/figures/rdpo_noise_rates.png
cp out/ties/ties_rate.png docs/figures/ties_rate.png
cp out/ties/ties_shrinkage.png docs/figures/ties_shrinkage.png
cp out/ties_rk/ties_rk_rate.png docs/figures/ties_rk_rate.png
cp out/ties_rk/ties_rk_inflation.png docs/figures/ties_rk_inflation.png
cp out/rankings/rankings_rankings.png docs/figures/rankings.png
cp out/rdpo_noise/rdpo_noise_pair.png docs/figures/rdpo_noise_pair.png
cp out/dpo_rate/dpo_rate_logpi.png docs/figures/dpo_rate_logpi.png
cp out/dpo_dynamics/dpo_dynamics_logp.png docs/figures/dpo_dynamics.png
cp out/nash/nash_nash_kl.png docs/figures/nash.png
cp out/pooled_bt/pooled_bt_pseudo_true.png docs/figures/pooled_bt.png
cp out/overoptimisation/overoptimisation_gold.png docs/figures/overoptimisation.png
cp out/luce/luce_density.png docs/figures/luce.png
cp out/dpo_margins/dpo_margins_order.png docs/figures/dpo_margins.png
cp out/personalised/personalised_fewshot.png docs/figures/personalised.png
exit $status
