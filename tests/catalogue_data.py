"""Mistakes with data (specs, files, labels, streams) and with judging a model (%evaluate,
%predict, %save, %stop, %runs): each a one-line UsageError naming the fix."""

from __future__ import annotations

from catalogue import FIVE_UNIT_MODEL, IMAGE_MODEL, IRIS_MODEL, TAGS_MODEL, case, cell

DATA_CASES = [
    case("data-empty-string", cell("other --data ''"), ["Cannot read the data spec ''"]),
    case("data-sklearn-empty", cell("other --data sklearn:"), ["scikit-learn dataset ''"]),
    case("data-keras-empty", cell("other --data keras:"), ["Unknown Keras dataset ''", "mnist"]),
    case("data-prefix-uppercase", cell("other --data SKLEARN:iris"), ["sklearn:NAME"]),
    case(
        "data-unicode-variable",
        cell("other --data donn\u00e9es"),
        ["No variable named 'donn\u00e9es'"],
    ),
    case("data-keyword", cell("other --data lambda"), ["Cannot read the data spec 'lambda'"]),
    case(
        "data-single-array",
        cell("other --data x_iris"),
        ["'x_iris' is a ndarray (a single array has no labels)", "(x, y)"],
    ),
    case("data-an-int", cell("other --data some_int"), ["'some_int' is a int", "(x, y)"]),
    case("data-a-string", cell("other --data greeting"), ["'greeting' is a str"]),
    case("data-three-items", cell("other --data xy_three"), ["'xy_three' is a tuple"]),
    case("data-dict-without-y", cell("other --data d_no_y"), ["keys ['x']", "'x' and 'y'"]),
    case(
        "data-dict-x-test-only",
        cell("other --data d_x_test_only"),
        ["has x_test without y_test", "give both, or neither"],
    ),
    case("data-scalars", cell("other --data xy_scalars"), ["is a scalar", "one row per sample"]),
    case(
        "pandas-x-and-y-misaligned",
        cell("other --data xy_misaligned"),
        ["row indexes differ", "y = y.loc[x.index]"],
    ),
    case("data-no-rows", cell("other --data xy_empty"), ["'xy_empty' has no samples"]),
    case(
        "images-of-mixed-shapes",
        cell("other --data imgs_mixed", IMAGE_MODEL),
        ["different shapes ((8, 8, 1) and (9, 9, 1))", "Resize images to one size"],
    ),
    case("text-features", cell("other --data xy_text"), ["holds strings", "TextVectorization"]),
    case(
        "feature-column-category",
        cell("other --data iris_color --target species"),
        ["Feature columns ['color']", "pandas.get_dummies"],
    ),
    case(
        "frame-of-the-target-only",
        cell("other --data only_target --target y"),
        ["no columns besides the target 'y'"],
    ),
    case("csv-without-target", cell("other --data iris.csv"), ["--target", "species"]),
    case(
        "csv-string-feature",
        cell("other --data iris_color.csv --target species"),
        ["Feature columns ['color']"],
    ),
    case(
        "csv-empty",
        cell("other --data empty.csv --target y"),
        ["Could not read empty.csv as a CSV table", "header row"],
    ),
    case(
        "csv-not-text",
        cell("other --data garbage.csv --target y"),
        ["Could not read garbage.csv as a CSV table", "utf-8"],
    ),
    case(
        "csv-header-only",
        cell("other --data header_only.csv --target species"),
        ["has a header row but no data rows"],
    ),
    case(
        "target-for-a-tuple",
        cell("other --data iris_xy --target species"),
        ["--target names the label column of a DataFrame or CSV", "Leave out --target"],
    ),
    case(
        "no-features",
        cell("other --data xy_no_features"),
        ["has no features: its samples have shape (0,)"],
    ),
    case(
        "splits-leave-nothing",
        cell("other --data sklearn:iris --test-split 0.99"),
        ["--validation-split 0.2 of 1 rows leaves no samples on one side"],
    ),
    case("csv-is-a-folder", cell("other --data folder.csv --target y"), ["is a folder"]),
    case(
        "csv-url",
        cell("other --data https://example.com/iris.csv --target species"),
        ["is a URL; nbml reads local files", "keras.utils.get_file"],
    ),
    case("npz-missing", cell("other --data nope.npz"), ["No file 'nope.npz'", "Check the path"]),
    case(
        "npz-not-an-archive",
        cell("other --data text.npz"),
        ["Could not read text.npz as an npz file", "np.savez"],
    ),
    case("npz-without-x-y", cell("other --data no_xy.npz"), ["arrays ['a']", "'x' and 'y'"]),
    case(
        "npz-of-objects",
        cell("other --data objects.npz"),
        ["Could not read objects.npz", "no Python objects"],
    ),
]

LABEL_CASES = [
    case(
        "labels-missing-none",
        cell("other --data xy_none"),
        ["1 labels of 'xy_none' are missing", "--clean"],
    ),
    case(
        "labels-missing-pd-na",
        cell("other --data iris_na --target species"),
        ["1 labels of 'iris_na' are missing (None, NaN or pd.NA)", "--clean"],
    ),
    case(
        "labels-mixed-types",
        cell("other --data xy_mixed_labels"),
        ["mixes label types (int, str)", "astype"],
    ),
    case(
        "labels-one-class",
        cell("other --data xy_one_class"),
        ["a single class (0)", "at least two"],
    ),
    case(
        "labels-many-integers",
        cell("other --data many_ints"),
        ["500 different whole numbers over 600 rows", "--task regression"],
    ),
    case(
        "labels-that-are-names",
        cell("other --data iris_ids --target name"),
        ["150 different strings over 150 rows", "Check that --target names the label column"],
    ),
    case(
        "frame-two-target-columns",
        cell("other --data iris_dup --target species"),
        ["2 columns named 'species'", "Rename them"],
    ),
    case(
        "sparse-features",
        cell("other --data xy_sparse"),
        ["sparse matrix", "x.toarray()"],
    ),
    case(
        "labels-datetimes",
        cell("other --data xy_dates"),
        ["datetime64", "neither numbers nor classes"],
    ),
    case(
        "labels-two-columns",
        cell("other --data xy_2d_labels"),
        ["one per sample or one-hot rows", "--task regression"],
    ),
    case(
        "regression-on-strings",
        cell("other --data iris_str --target species --task regression"),
        ["--task regression needs numeric labels"],
    ),
    case(
        "classification-of-fractions",
        cell("other --data xy_fractions --task classification"),
        ["fractions", "--task regression"],
    ),
    # ---- label encodings (README.md, "Data and tasks")
    case(
        "labels-one-hot-with-an-all-zero-row",
        cell("other --data onehot_gap"),
        ["1 of the 150 rows are all zeros (row 7 first)", "--task multilabel"],
    ),
    case(
        "multilabel-forced-on-classes",
        cell("other --data sklearn:iris --task multilabel", TAGS_MODEL),
        ["--task multilabel needs one row of 0s and 1s", "--task classification"],
    ),
    case(
        "classification-forced-on-multi-hot-rows",
        cell("other --data xy_tags --task classification"),
        ["one per sample or one-hot rows", "--task multilabel"],
    ),
    case(
        "multilabel-softmax-head",
        cell("other --data xy_tags"),
        ["ends with a softmax", "Dense(3, activation='sigmoid')"],
    ),
    case(
        "multilabel-metric-accuracy",
        cell("other --data xy_tags --metrics accuracy", TAGS_MODEL),
        ["--metrics accuracy", "binary_accuracy"],
    ),
    case(
        "multilabel-evaluated-on-classes",
        "%evaluate tags_e --data iris_xy",
        ["multi-label classifier of 3 labels", "rows of 3 0s and 1s"],
        before=cell("tags_e --data xy_tags --epochs 1", TAGS_MODEL),
    ),
]

STREAM_CASES = [
    case("stream-empty", cell("other --data gen_empty"), ["yields no batches", "used up"]),
    case(
        "stream-used-up",
        cell("other --data used"),
        ["'used' yields no batches", "a generator runs once"],
        before="used = batches()\n_ = list(used)",
    ),
    case("stream-of-ints", cell("other --data gen_scalars"), ["yields a int", "(x, y)"]),
    case("stream-of-x-only", cell("other --data gen_x_only"), ["yields a ndarray", "(x, y)"]),
    case(
        "stream-short-labels",
        cell("other --data gen_short_y"),
        ["x shaped (10, 4) with y shaped (9,)", "one label per sample"],
    ),
    case(
        "stream-string-labels",
        cell("other --data gen_str_labels"),
        ["class indices (0, 1, ...)", "Encode them in the stream"],
    ),
    case(
        "generator-for-several-epochs",
        cell("other --data fresh --epochs 2"),
        ["'fresh' is a generator: it runs once, so it can feed one epoch, not 2", "--epochs 1"],
        before="fresh = batches()",
    ),
    case(
        "train-again-on-a-used-generator",
        "%train gen_once --epochs 1",
        ["was used up by an earlier run", "fresh one with --data"],
        before=f"%%train gen_once --data gen_for_once --epochs 1{IRIS_MODEL}",
    ),
    case("pydataset-without-batches", cell("other --data no_batches"), ["yields no batches"]),
    case(
        "stream-with-normalize",
        cell("other --data fresh --normalize minmax"),
        ["--normalize and --augment need array data"],
        before="fresh = batches()",
    ),
]

JUDGE_CASES = [
    case("evaluate-without-name", "%evaluate", ["required: name"]),
    case("evaluate-frame-without-target", "%evaluate tiny --data iris_df", ["--target", "species"]),
    case("evaluate-lengths-differ", "%evaluate tiny --data xy_bad", ["10 samples but 9 labels"]),
    case(
        "evaluate-unknown-class",
        "%evaluate tiny --data xy_unknown_class",
        ["The labels contain 5, a class the model was not trained on"],
    ),
    case(
        "evaluate-nan-features",
        "%evaluate tiny --data xy_nan",
        ["1 rows of 'xy_nan' contain NaN", "Drop or fill in those rows first"],
    ),
    case(
        "evaluate-missing-labels",
        "%evaluate tiny --data xy_none",
        ["1 labels of 'xy_none' are missing", "Drop or fill in"],
    ),
    case(
        "evaluate-one-hot-of-other-width",
        "%evaluate tiny --data onehot4",
        ["one-hot rows of 4 columns, but the model knows 3 classes"],
    ),
    case("evaluate-empty-stream", "%evaluate tiny --data gen_empty_eval", ["yields no batches"]),
    case(
        "evaluate-without-a-test-set",
        "%evaluate nosplit",
        ["nosplit has no held-out test set", "%evaluate nosplit --data NAME"],
        before=f"%%train nosplit --data sklearn:iris --test-split 0 --epochs 1{IRIS_MODEL}",
    ),
    case(
        "predict-a-unit-that-is-no-class",
        "%predict named5 x_iris[:2]",
        ["predicted output unit 4, which is none of its 3 classes", "Dense(3,", "--proba"],
        before=f"%%train named5 --data named --epochs 1 --lr 1e-9{FIVE_UNIT_MODEL}",
    ),
    case("evaluate-bogus-option", "%evaluate tiny --proba", ["unrecognized arguments: --proba"]),
    case(
        "predict-one-sample",
        "%predict tiny x_iris[0]",
        ["shape ()", "(4,)", "If it is one sample of shape (4,), pass a batch of one: x[None]"],
    ),
    case("predict-frame-with-target", "%predict tiny iris_df", ["(5,)", "(4,)"]),
    case("predict-3d", "%predict tiny np.zeros((2, 2, 2))", ["(2, 2)", "(4,)"]),
    case("predict-proba-without-expr", "%predict tiny --proba", ["%predict NAME EXPR"]),
    case(
        "predict-unicode-variable",
        "%predict tiny donn\u00e9es",
        ["No variable named 'donn\u00e9es'"],
    ),
    case("save-without-name", "%save", ["required: name"]),
    case("save-format-bogus", "%save tiny --format bogus", ["--format", "keras, saved_model"]),
    case("runs-compare-unknown", "%runs tiny --compare nosuch", ["No run 'nosuch'", "%runs"]),
    case(
        "evaluate-regression-targets-on-a-classifier",
        "%evaluate tiny --data sklearn:diabetes",
        ["The labels contain 151.0, a class the model was not trained on"],
    ),
    case("stop-without-name", "%stop", ["required: name"]),
    case("stop-two-names", "%stop tiny other", ["unrecognized arguments: other"]),
    case("runs-bogus-option", "%runs --bogus", ["unrecognized arguments: --bogus"]),
]
