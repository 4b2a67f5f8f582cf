import Foundation

extension EvaluationReport {
    /// Several evaluations' loss plots side by side in one figure, like the paper's figures (one
    /// panel per experiment, e.g. the trained network, 40 units, 2 layers, ReLU).
    ///
    /// Every panel is the evaluation's own plot (`plot(title:bands:)`: mean loss per step, the
    /// 25th–75th percentile band, baselines' learning rates in the legend), titled with its entry's
    /// title. An optimizer has the same colour in every panel. When all panels would carry the
    /// same subtitle (what the lines and bands are), it is said once under the figure's title.
    /// `columns` defaults to all panels in one row, up to 4 per row.
    package static func panelFigure(_ panels: [(title: String, report: EvaluationReport)], title: String,
                                   columns: Int? = nil, bands: Bool = true) -> SVGFigure {
        var names: [String] = []
        for (_, report) in panels {
            for c in report.curves where !names.contains(c.name) { names.append(c.name) }
        }
        var plots = panels.map { entry -> SVGPlot in
            var plot = entry.report.plot(title: entry.title, bands: bands)
            for i in plot.series.indices {
                plot.series[i].colorIndex = names.firstIndex(of: entry.report.curves[i].name)
            }
            return plot
        }
        let subtitles = Set(plots.map { $0.subtitle ?? "" })
        var figureSubtitle: String? = nil
        if subtitles.count == 1, let only = subtitles.first, !only.isEmpty {
            figureSubtitle = only
            for i in plots.indices { plots[i].subtitle = nil }
        }
        var figure = SVGFigure(title: title, subtitle: figureSubtitle, panels: plots,
                               columns: columns ?? min(4, max(1, panels.count)))
        figure.panelWidth = 460
        figure.panelHeight = 400
        return figure
    }
}
