// The rules the sidebar and the widgets share (../format), checked against what the kernel's
// text views print for the same values (nbml/views/text.py `seconds` and `ordered`,
// nbml/views/comparison.py `main_metric`).
import {
  finite,
  formatDuration,
  formatNumber,
  mainMetric,
  orderedMetrics,
  percent,
  progressFraction,
} from "../format";

describe("formatDuration", () => {
  // each pair: what `nbml.views.text.seconds(value)` returns in Python
  const python: [number, string][] = [
    [0, "0.0s"],
    [0.04, "0.0s"],
    [0.05, "0.1s"],
    [0.25, "0.2s"], // a tie: Python rounds to even, toFixed would say 0.3s
    [0.35, "0.3s"],
    [0.75, "0.8s"],
    [1.25, "1.2s"],
    [2.5, "2.5s"],
    [4.2, "4.2s"],
    [59.94, "59.9s"],
    [59.96, "60.0s"],
    [60, "1m00s"],
    [65, "1m05s"],
    [65.9, "1m05s"],
    [119.99, "1m59s"],
    [3599.9, "59m59s"],
    [3600, "1h00m"],
    [3900, "1h05m"],
    [3905, "1h05m"],
    [7199, "1h59m"],
    [86465, "24h01m"],
    [-3, "0.0s"],
  ];

  it.each(python)("shows %p seconds as %p, as the kernel's text does", (value, text) => {
    expect(formatDuration(value)).toBe(text);
  });

  it("says ? for what is not a finite number", () => {
    for (const v of [null, undefined, NaN, Infinity, "12", {}]) expect(formatDuration(v)).toBe("?");
  });
});

describe("formatNumber", () => {
  it("keeps 4 significant digits and groups from 1,000", () => {
    expect(formatNumber(0.912345)).toBe("0.9123");
    expect(formatNumber(3)).toBe("3");
    expect(formatNumber(1e-5)).toBe("0.00001");
    expect(formatNumber(12345.6)).toBe("12,346");
    expect(formatNumber(-1500)).toBe("-1,500");
  });

  it("says nan for null, NaN, infinities and non-numbers", () => {
    for (const v of [null, NaN, -Infinity, "1", {}, undefined]) expect(formatNumber(v)).toBe("nan");
    expect(finite("1")).toBeNull();
  });
});

describe("progressFraction and percent", () => {
  it("clamps to 0..1 and treats anything else as no progress", () => {
    expect(progressFraction(0.345)).toBe(0.345);
    expect(progressFraction(1.7)).toBe(1);
    expect(progressFraction(-0.2)).toBe(0);
    expect(progressFraction(null)).toBe(0);
    expect(progressFraction("0.5")).toBe(0);
    expect(percent(0.3456)).toBe("34.6%");
    expect(percent(null)).toBe("0%");
    expect(percent(2)).toBe("100%");
  });
});

describe("orderedMetrics", () => {
  it("reads loss, the other metrics, then their val_ twins (display.ordered)", () => {
    expect(orderedMetrics(["val_accuracy", "accuracy", "val_loss", "loss", "auc"])).toEqual([
      "loss",
      "accuracy",
      "auc",
      "val_loss",
      "val_accuracy",
    ]);
  });
});

describe("mainMetric", () => {
  // each pair: what `nbml.views.comparison.main_metric(keys)` returns in Python
  const python: [string[], string | null][] = [
    [["loss", "accuracy", "val_loss", "val_accuracy"], "val_accuracy"],
    [["loss", "accuracy", "val_loss", "val_auc", "val_accuracy"], "val_auc"],
    [["loss", "val_loss"], "val_loss"],
    [["loss", "mae"], "mae"],
    [["loss"], "loss"],
    [[], null],
  ];

  it.each(python)("picks the metric of %p as the kernel does: %p", (keys, main) => {
    expect(mainMetric(keys)).toBe(main);
  });
});
