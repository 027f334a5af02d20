"""scikit-learn IsolationForest fixture on the real DataCamp rows.

The BETH paper's protocol on the bundled real rows (tests/fixtures/beth/njeriw_DataCamp, the
first rows of DataCamp's splits): the seven `seed` features standardised with statistics of the
whole training file (population std, as the crate's FeatureScaler), an IsolationForest with
scikit-learn's defaults fitted on the training rows labelled benign (sus_label 0), scores
(-score_samples, so higher is more unusual: 2^(-E[h]/c(256))) on the 7,500 test rows, and the
test AUROC against sus_label for random_state 0..59. Writes
tests/fixtures/sklearn_iforest_real_rows.json.

Run from the repository root:
  pip install -r tests/reference/requirements.txt
  python3 tests/reference/make_iforest_fixture.py
"""
import json

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

DIR = "tests/fixtures/beth/njeriw_DataCamp"
SEEDS = 60  # the AUROC varies from 0.52 to 0.67 between seeds here: compare means over many
FEATURES = ["processId", "threadId", "parentProcessId", "userId", "mountNamespace", "argsNum",
            "returnValue"]

train = pd.read_csv(f"{DIR}/labelled_train_head12500.csv")
test = pd.read_csv(f"{DIR}/labelled_test_head7500.csv")
x_train = train[FEATURES].to_numpy(dtype=np.float64)
mean = x_train.mean(axis=0)
std = x_train.std(axis=0)
std[std < 10 * np.finfo(np.float64).eps] = 1.0
scale = lambda x: ((x - mean) / std).astype(np.float32)
benign = scale(x_train[train["sus_label"].to_numpy() == 0])
x_test = scale(test[FEATURES].to_numpy(dtype=np.float64))
y_test = test["sus_label"].to_numpy()

aurocs = []
for seed in range(SEEDS):
    forest = IsolationForest(random_state=seed).fit(benign)
    aurocs.append(float(roc_auc_score(y_test, -forest.score_samples(x_test))))

out = {
    "source": "tests/reference/make_iforest_fixture.py",
    "sklearn_version": sklearn.__version__,
    "train_benign_rows": int(len(benign)),
    "test_rows": int(len(x_test)),
    "test_auroc_per_seed": aurocs,
    "test_auroc_mean": float(np.mean(aurocs)),
}
with open("tests/fixtures/sklearn_iforest_real_rows.json", "w") as f:
    json.dump(out, f, indent=2)
print(json.dumps(out, indent=2))
