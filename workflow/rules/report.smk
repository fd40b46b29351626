# `snakemake --report results/report.html` (issue 15.2): every figure (PNG, from the figure
# rules' report() outputs) and every results table (the HTML pages of rule report_table)
# under the paper section it belongs to, with the paper's figure/table number in its caption.
# Needs common.smk (RESULTS, CONDA_ENV, report_tables) and eval.smk (TABLE_SPECS); the
# sections and titles are in demoe/analysis/report_html.py.

rule report_table:
    input:
        f"{RESULTS}/tables/{{name}}.md",
    output:
        report(
            f"{RESULTS}/report/tables/{{name}}.html",
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
        f"{RESULTS}/logs/report/{{name}}.log",
    conda:
        CONDA_ENV
    shell:
        "python -m analysis.report_table --md {input:q} --html {output:q} "
        "--title {params.title:q} > {log:q} 2>&1"
