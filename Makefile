# The project's public interface. `make help` lists the targets.
# Only python3 (3.11+) and make are needed: the environment is built from the committed lock
# file (uv.lock) by uv, itself installed from PyPI into .uv/ at a pinned version.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
# The models work on small matrices, where a threaded BLAS spends more time spinning up threads
# than computing (measured 20-40x slower on a busy 2-core machine). Override if you know better.
export OPENBLAS_NUM_THREADS ?= 1

BRAND ?= demo
PERIOD ?= latest

.PHONY: help env demo run test test-fast lab bench bench-clv corpus proof lint strip clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced  ## create or update the environment from the lock file

# The demo brand runs its previous period first: that run's notebook 06 measures the planted
# campaign, and the latest run's plan (notebook 05) uses the measured response (the closed loop).
demo: env  ## run every notebook for every bundled brand at its latest period (demo: the last two); print the index
	$(BIN)/workbook run --brand demo --period latest-1
	$(BIN)/workbook run --all --period latest --jobs 2

run: env  ## run one brand: make run BRAND=cdnow PERIOD=1998-06
	$(BIN)/workbook run --brand $(BRAND) --period $(PERIOD)

# The tests run on both cores (pytest-xdist, a test file per worker: module fixtures such as a
# brand's run are built once); the notebooks under nbval run after, in one process, in order:
# each reads what the one before it stored for the run.
test: env  ## the whole test suite: unit, end-to-end, real-data checks, notebooks under nbval
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 tests
	$(BIN)/python -m pytest --nbval-lax notebooks

test-fast: env  ## the suite without the slow end-to-end and real-data checks
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" tests

lab: env  ## JupyterLab on notebooks/ with the project's environment as the kernel
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (workbook)" >/dev/null
	cd notebooks && ../$(BIN)/jupyter lab

BENCH_ORDERS ?= 1M,10M
BENCH_TIMEOUT ?= 3600
bench: env  ## all six notebooks at 1M and 10M orders vs lifetimes' fit on the same orders (BENCH_ORDERS=1M: quicker)
	$(BIN)/python benchmarks/workbook_bench.py --orders $(BENCH_ORDERS) --strict --timeout $(BENCH_TIMEOUT) --json outputs/bench/bench.json

bench-clv: env  ## the CLV path alone against lifetimes, and the benchmark harness's own checks
	$(BIN)/python -m pytest benchmarks -q -s  # BENCH_CUSTOMERS=300000 for a quick run

corpus: env  ## every bad-input case (tests/badinputs) through all six notebooks: no crash, the outcome each states
	$(BIN)/python -m tests.badinputs.run_all --jobs 2

# The intervals against the generator's truth over 30 generated demos (tests/proof): the seeds
# run in a pool of PROOF_JOBS processes (both cores), so pytest itself runs in one.
PROOF_JOBS ?= 2
proof: env  ## CLV, driver and campaign intervals vs the demo generator's truth over 30 seeds (>= 27 of 30 each)
	PROOF_JOBS=$(PROOF_JOBS) $(BIN)/python -m pytest -n 0 -m proof --durations=5 tests/proof

# The statistics formulas scored by `make mutants` (mutmut's mutant names; ? is the class
# separator): Gamma-Gamma expected spend, the CLV sum and its second copies, the P(alive) and
# expected-purchase closed forms and wrappers, Wilson/Newcombe, Welch, CUPED, Katz, the budget
# objective. The proof subset of tests is [tool.mutmut] in pyproject.toml.
MUTANTS_DIR := outputs/mutation
MUTANT_FUNCTIONS := \
	'helpers.clv.x?SpendFit?expected__*' 'helpers.clv.x?SpendFit?population_mean__*' \
	'helpers.clv.x_discount_factors__*' 'helpers.clv.x_discounted_clv__*' 'helpers.clv.x_monthly_purchases__*' \
	'helpers.clv.x_customer_predictions__*' 'helpers.clv.x_clv_draws__*' \
	'helpers.clv.x?PurchaseFit?expected__*' 'helpers.clv.x?PurchaseFit?p_alive__*' \
	'helpers.clv.x_conditional_expected__*' 'helpers.clv.x_conditional_p_alive__*' 'helpers.clv.x_pattern_predictions__*' \
	'helpers.clv.x__bg_numerator__*' 'helpers.clv.x__bg_denominator__*' 'helpers.clv.x__pareto_tail__*' \
	'helpers.clv.x__pareto_log_alive_block__*' \
	'helpers.campaigns.x_wilson__*' 'helpers.campaigns.x_diff_proportions__*' 'helpers.campaigns.x_diff_means__*' \
	'helpers.campaigns.x_cuped__*' 'helpers.campaigns.x_relative_proportion__*' 'helpers.campaigns.x_ratio_interval__*' \
	'helpers.lifecycle.x_wilson__*' \
	'helpers.budget.x_gross_profit__*' 'helpers.budget.x_marginal_gross__*' 'helpers.budget.x_expected_profit__*' \
	'helpers.budget.x_contact_value__*' 'helpers.budget.x_weighted_value__*'
mutants: env  ## mutation testing of the statistics formulas (mutmut; score >= 90 %, README "Mutation testing")
	rm -rf $(MUTANTS_DIR) && mkdir -p $(MUTANTS_DIR)
	cp -r helpers tests pyproject.toml $(MUTANTS_DIR)/
	cd $(MUTANTS_DIR) && $(CURDIR)/$(BIN)/mutmut run --max-children 2 $(MUTANT_FUNCTIONS) > mutmut.log 2>&1 \
		|| { tail -c 3000 mutmut.log; exit 1; }
	cd $(MUTANTS_DIR) && $(CURDIR)/$(BIN)/python $(CURDIR)/tests/mutation_score.py --min 0.9 $(MUTANT_FUNCTIONS)

lint: env  ## ruff
	$(BIN)/ruff check helpers tests

strip: env  ## remove outputs from the notebooks before committing
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

clean:  ## remove the environment, caches and generated demo data (outputs/ is kept)
	rm -rf $(VENV) .uv .pytest_cache data/demo data/cache
