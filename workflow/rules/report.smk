# `snakemake --report results/report.html --report-stylesheet workflow/report/style.css`:
# every figure (PNG, from the figure rules' report() outputs) and every results table (the
# HTML pages of rule report_table) under the paper section it belongs to, with the paper's
# figure/table number in its caption. The stylesheet fixes the viewer's layout (tall pages
# scroll to their top, the menu leaves the tables room); the report builds without it.
# Snakemake 9's viewer shows images, HTML and PDF and offers any other file (a CSV) as a
# download only, hence the HTML pages (demoe/analysis/report_html.py).
# Reads common.smk's globals (RESULTS, CONDA_ENV, TABLE_SPECS); the
# sections and titles are in demoe/analysis/report_html.py.

rule report_table:
    input:
        paths.table(RESULTS, "{name}", "md"),
    output:
        report(
            paths.report_table(RESULTS, "{name}"),
            caption="../report/table.rst",
            category=lambda wildcards: report_category(wildcards.name),
            subcategory="Tables",
            labels=lambda wildcards: {"table": table_title(wildcards.name, TABLE_SPECS)},
        ),
    wildcard_constraints:
        name=r"[A-Za-z0-9_]+",
    params:
        title=lambda wildcards: table_title(wildcards.name, TABLE_SPECS),
    log:
        paths.log(RESULTS, "report", "{name}"),
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.report_table --md {input:q} --html {output:q} "
        "--title {params.title:q} > {log:q} 2>&1"
