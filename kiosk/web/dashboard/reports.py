"""Reports per outing, week and month: a page with charts drawn on the server, a printable version and the
activity export as CSV and XLSX in La Coop's columns."""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, request

from kiosk.services.clock import local_day
from kiosk.services.mediation.activity import export_csv
from kiosk.services.mediation.activity_xlsx import export_xlsx
from kiosk.services.mediation.reports import UnknownPeriod
from kiosk.web.dashboard import charts, labels
from kiosk.web.dashboard.common import ctx, page

blueprint = Blueprint("reports", __name__, url_prefix="/reports")
KINDS = ("outing", "week", "month")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BAND_ORDER = ("beginner", "with_help", "on_my_own", "at_ease", "not_assessed")


@blueprint.get("")
def index():
    context = ctx()
    today = local_day(context.clock.now())
    return page("dashboard/reports.html", outings=context.outings.recent(15),
                periods=context.reports.recent_periods(today))


def _period(kind: str, key: str):
    if kind not in KINDS or len(key) > 16:
        abort(404)
    try:
        return ctx().reports.period(kind, key)
    except UnknownPeriod:
        abort(404)


def _label(table: dict[str, str], code: str) -> str:
    return g.translations.gettext(table.get(code, code))


def _area_titles() -> dict[str, str]:
    try:
        questionnaire = ctx().kit.survey.library.default
    except Exception:  # no questionnaire content: the report shows no bands
        return {}
    return {area.id: questionnaire.text(area.title, g.lang) for area in questionnaire.scored_areas}


@blueprint.get("/<kind>/<key>")
def report(kind: str, key: str):
    context = ctx()
    period = _period(kind, key)
    built = context.reports.build(period)
    titles = _area_titles()
    bands = []
    if built.survey is not None:
        for area, title in titles.items():
            counts = built.survey.bands.get(area, {})
            if counts:
                bands.append((title, [counts.get(band, 0) for band in BAND_ORDER]))
    svg = {
        "themes": charts.bars([(_label(labels.DIGITAL_THEMES, code), count)
                                         for code, count in built.themes]),
        "procedures": charts.bars([(_label(labels.PROCEDURE_THEMES, code), count)
                                             for code, count in built.procedures]),
        "kinds": charts.bars([(_label(labels.KINDS, code), count)
                                        for code, count in sorted(built.by_kind.items())]),
        "bands": charts.stacked(bands),
    }
    template = "dashboard/report_print.html" if request.args.get("print") == "1" else "dashboard/report.html"
    return page(template, report=built, period=period, svg=svg, bands=bands, band_order=BAND_ORDER)


def _records(kind: str, key: str):
    context = ctx()
    period = _period(kind, key)
    return context.reports.records(period), {outing.id: outing for outing in context.outings.recent(10_000)}


@blueprint.get("/<kind>/<key>/activities.csv")
def activities_csv(kind: str, key: str):
    return Response(export_csv(*_records(kind, key)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="activites-{kind}-{key}.csv"'})


@blueprint.get("/<kind>/<key>/activities.xlsx")
def activities_xlsx(kind: str, key: str):
    return Response(export_xlsx(*_records(kind, key)), mimetype=XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="activites-{kind}-{key}.xlsx"'})
