namespace ChaosPS.Load;

/// <summary>
/// A piecewise-linear level over time (requests per second for the open model, virtual users for the closed one):
/// the start level, then each stage ramps linearly to its target over its duration.
/// </summary>
public sealed class LoadProfile
{
    private readonly double[] _t0, _t1, _v0, _v1, _n0;

    public double TotalSeconds { get; }

    public LoadProfile(double start, IReadOnlyList<LoadStage> stages, double totalSeconds)
    {
        var segs = new List<(double t0, double t1, double v0, double v1)>();
        if (stages.Count == 0) segs.Add((0, totalSeconds, start, start));
        else
        {
            double t = 0, v = start;
            foreach (var s in stages)
            {
                double d = s.Duration.TotalSeconds;
                segs.Add((t, t + d, v, s.Target));
                t += d; v = s.Target;
            }
        }
        TotalSeconds = totalSeconds;
        _t0 = segs.Select(s => s.t0).ToArray(); _t1 = segs.Select(s => s.t1).ToArray();
        _v0 = segs.Select(s => s.v0).ToArray(); _v1 = segs.Select(s => s.v1).ToArray();
        _n0 = new double[segs.Count];
        double n = 0;
        for (int i = 0; i < segs.Count; i++) { _n0[i] = n; n += (_v0[i] + _v1[i]) / 2 * (_t1[i] - _t0[i]); }
    }

    /// <summary>Stage index (0-based) at time t.</summary>
    public int StageAt(double t)
    {
        for (int i = 0; i < _t0.Length; i++) if (t < _t1[i]) return i;
        return _t0.Length - 1;
    }

    public double LevelAt(double t)
    {
        int i = StageAt(t);
        double len = _t1[i] - _t0[i];
        if (len <= 0) return _v1[i];
        double x = Math.Clamp((t - _t0[i]) / len, 0, 1);
        return _v0[i] + (_v1[i] - _v0[i]) * x;
    }

    /// <summary>How many requests the open model has scheduled by time t (the integral of the rate).</summary>
    public double CountAt(double t)
    {
        t = Math.Min(t, TotalSeconds);
        for (int i = 0; i < _t0.Length; i++)
        {
            if (t < _t1[i] || i == _t0.Length - 1)
            {
                double x = Math.Clamp(t - _t0[i], 0, _t1[i] - _t0[i]);
                double len = _t1[i] - _t0[i];
                double slope = len > 0 ? (_v1[i] - _v0[i]) / len : 0;
                return _n0[i] + _v0[i] * x + slope * x * x / 2;
            }
        }
        return 0;
    }

    /// <summary>The intended send time (seconds from the start) of request number n (0-based); +inf when it is past the end.</summary>
    public double TimeOf(long n)
    {
        for (int i = 0; i < _t0.Length; i++)
        {
            double len = _t1[i] - _t0[i];
            double area = (_v0[i] + _v1[i]) / 2 * len;
            if (n >= _n0[i] + area || area <= 0) continue;
            double c = n - _n0[i];
            double a = (_v1[i] - _v0[i]) / (2 * len);
            double b = _v0[i];
            double x;
            if (Math.Abs(a) < 1e-12) x = c / b;
            else
            {
                double disc = b * b + 4 * a * c;
                x = 2 * c / (b + Math.Sqrt(Math.Max(disc, 0)));
            }
            double t = _t0[i] + Math.Clamp(x, 0, len);
            return t < TotalSeconds ? t : double.PositiveInfinity;
        }
        return double.PositiveInfinity;
    }
}
