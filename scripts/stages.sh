# Sourced by the training scripts: `stage CONFIG OUT [midnet train options...]` trains one run
# folder of a staged script, resuming its checkpoint when one exists and skipping a finished
# run (its metrics.csv reached the config's iterations), so the script can be re-run after an
# interruption until every stage is done.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # sleep, not spin, at OpenMP barriers on shared cores
stage() {
  local config="$1" out="$2"; shift 2
  local iterations
  iterations=$(python3 -c "import yaml,sys;print(yaml.safe_load(open(sys.argv[1]))['iterations'])" "$config")
  if grep -q "^$iterations," "$out/metrics.csv" 2>/dev/null; then
    echo "== $out: done"; return
  fi
  if [ -d "$out" ] && ls "$out" | grep -q -v -e '^config.yaml$' -e '^metrics.csv$'; then
    echo "== $out: resuming"; midnet train --out "$out" --resume
  else
    echo "== $out: starting"; midnet train "$config" --out "$out" "$@"
  fi
}
