/// The one stylesheet: system fonts, one accent colour, light and dark themes from the same custom properties.
/// Colour pairs are chosen for at least 4.5:1 contrast in both themes (the browser test computes them).
package enum Stylesheet {
    package static let css = """
        :root{color-scheme:light;--bg:#f5f6f8;--surface:#ffffff;--ink:#1b2230;--muted:#535d6d;--line:#dde1e7;--accent:#2352c2;
        --accent-ink:#ffffff;--bad:#b42318;--good:#1f7a3f;--focus:#2352c2;
        --s0:#2352c2;--s1:#c2410c;--s2:#0f8a6a;--s3:#8a3ffc;--s4:#b8860b;--s5:#6b7280}
        :root[data-theme=dark]{color-scheme:dark;--bg:#0f131a;--surface:#181d26;--ink:#e7eaf0;--muted:#a3acbb;--line:#2c3340;
        --accent:#82a9ff;--accent-ink:#0b1020;--bad:#ff8b80;--good:#6fd39a;--focus:#82a9ff;
        --s0:#82a9ff;--s1:#fb923c;--s2:#34d399;--s3:#c4a5ff;--s4:#facc15;--s5:#9ca3af}
        @media (prefers-color-scheme:dark){:root:not([data-theme=light]){color-scheme:dark;--bg:#0f131a;--surface:#181d26;--ink:#e7eaf0;
        --muted:#a3acbb;--line:#2c3340;--accent:#82a9ff;--accent-ink:#0b1020;--bad:#ff8b80;--good:#6fd39a;--focus:#82a9ff;
        --s0:#82a9ff;--s1:#fb923c;--s2:#34d399;--s3:#c4a5ff;--s4:#facc15;--s5:#9ca3af}}
        *{box-sizing:border-box}
        body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif;color:var(--ink);background:var(--bg)}
        a{color:var(--accent)}a:hover{text-decoration-thickness:2px}
        :focus-visible{outline:3px solid var(--focus);outline-offset:2px;border-radius:3px}
        .skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;z-index:9;background:var(--surface);padding:.4rem .8rem}
        header.top{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;padding:.55rem 1.2rem;background:var(--surface);border-bottom:1px solid var(--line)}
        header.top .brand{font-weight:700;color:var(--accent);text-decoration:none;font-size:1.05rem}
        .spacer{flex:1}
        nav.main{display:flex;gap:.2rem;flex-wrap:wrap}
        nav.main a,nav.sub a{padding:.3rem .6rem;border-radius:6px;text-decoration:none;color:var(--ink)}
        nav.main a[aria-current=page],nav.sub a[aria-current=page]{background:var(--bg);color:var(--accent);font-weight:600}
        nav.sub{display:flex;flex-wrap:wrap;gap:.2rem;margin:0 0 1rem;border-bottom:1px solid var(--line);padding-bottom:.5rem}
        header.top form{margin:0}header.top select{width:auto;padding:.25rem .4rem}
        main{max-width:72rem;margin:1.2rem auto;padding:0 1rem}.narrow{max-width:26rem;margin:0 auto}
        .card{background:var(--surface);border:1px solid var(--line);border-radius:10px;padding:1.1rem 1.2rem;margin-bottom:1rem;min-width:0}
        h1{font-size:1.4rem;margin:0 0 .8rem}h2{font-size:1.08rem;margin:0 0 .6rem}
        label{display:block;font-weight:600;margin:.7rem 0 .25rem}
        label.check{display:inline-flex;gap:.35rem;align-items:center;font-weight:400;margin:.2rem 1rem .2rem 0}
        label.check input{width:auto}
        input,select,textarea{width:100%;padding:.45rem .55rem;border:1px solid var(--muted);border-radius:6px;font:inherit;color:var(--ink);background:var(--surface)}
        button,.button{display:inline-block;margin-top:.9rem;padding:.5rem .95rem;border:0;border-radius:6px;background:var(--accent);color:var(--accent-ink);font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
        button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent)}
        button.small{margin:0;padding:.2rem .55rem;font-size:.85rem}
        button.link{background:none;color:var(--accent);padding:0;margin:0;font-weight:400}
        button.danger{background:transparent;color:var(--bad);border:1px solid var(--bad)}
        .error,[data-error-for]{color:var(--bad);font-size:.9rem;margin:.2rem 0 0}[data-error-for]:empty{display:none}
        .notice{padding:.7rem 1rem;border-radius:6px;border:1px solid var(--bad);color:var(--bad);background:var(--surface);margin-bottom:1rem}
        .ok{color:var(--good)}
        .muted{color:var(--muted)}small,.small{font-size:.85rem}
        .table-wrap{overflow-x:auto;max-width:100%}
        table{border-collapse:collapse;width:100%}td,th{padding:.4rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        th{font-size:.85rem;color:var(--muted);font-weight:600}th a{color:inherit}
        tfoot td{font-weight:600;border-bottom:0}
        .num{font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}
        .grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr))}
        .grid.wide{grid-template-columns:repeat(auto-fit,minmax(18rem,1fr))}
        .metric{margin:0}.metric .label{color:var(--muted);font-size:.85rem;margin:0}
        .metric .value{display:block;font-size:1.6rem;font-weight:650;font-variant-numeric:tabular-nums;margin:.15rem 0}
        .metric .compare{color:var(--muted);font-size:.85rem;margin:0}
        .row{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end}.row>div{flex:1 1 10rem;min-width:0}
        .actions{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}
        figure{margin:0}figure svg{width:100%;height:auto;display:block}
        svg .axis{fill:var(--muted);font-size:11px}svg .grid-line{stroke:var(--line)}svg .anomaly{fill:var(--bad)}svg .spend-line{stroke:var(--s0);stroke-width:2.5}svg .spend-point{fill:var(--s0)}
        .s0{fill:var(--s0);background:var(--s0)}.s1{fill:var(--s1);background:var(--s1)}.s2{fill:var(--s2);background:var(--s2)}
        .s3{fill:var(--s3);background:var(--s3)}.s4{fill:var(--s4);background:var(--s4)}.s5{fill:var(--s5);background:var(--s5)}
        .legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;margin:.5rem 0 0;padding:0;list-style:none;font-size:.85rem}
        .swatch{display:inline-block;width:.75rem;height:.75rem;border-radius:2px;margin-right:.35rem;vertical-align:-1px}
        fieldset{border:1px solid var(--line);border-radius:6px;margin:.9rem 0 0;padding:.4rem .8rem .6rem}legend{font-weight:600;padding:0 .3rem}
        details summary{cursor:pointer;color:var(--accent);margin:.4rem 0}
        pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.7rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:.85rem}
        code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
        .estimate-note{color:var(--muted);font-size:.85rem;margin:.4rem 0 1rem}
        .badge{display:inline-block;padding:0 .45rem;border-radius:99px;border:1px solid var(--line);font-size:.8rem}
        .badge.error{color:var(--bad);border-color:var(--bad);margin:0}
        .pager{display:flex;gap:1rem;margin:.8rem 0}
        #live-status{font-size:.85rem}
        svg.band-chart{width:100%;height:auto;display:block}.band-chart .band{fill:var(--s0);fill-opacity:.18;stroke:none}
        .band-chart .p50{fill:none;stroke:var(--s0);stroke-width:2;stroke-dasharray:6 4}.band-chart .history{fill:none;stroke:var(--ink);stroke-width:1.5}
        .band-chart .level{stroke:var(--bad);stroke-width:1.5}.band-chart .level-label{fill:var(--bad);font-size:11px}
        .swatch.history{background:var(--ink)}.swatch.p50{background:var(--s0)}.swatch.band{background:var(--line)}.swatch.level{background:var(--bad)}
        .risk.high{color:var(--bad);font-weight:600}.risk.medium{font-weight:600}
        tr.fresh td{animation:fresh 2s ease-out}@keyframes fresh{from{background:var(--bg)}to{background:transparent}}
        [hidden]{display:none!important}
        svg.budget-bar{width:100%;height:.9rem;display:block;margin:.5rem 0;border-radius:4px}
        .budget-bar .track{fill:var(--line)}.budget-bar .fill{fill:var(--good)}.budget-bar .fill.near{fill:var(--accent)}
        .budget-bar .fill.over{fill:var(--bad)}.budget-bar .mark{stroke:var(--ink);stroke-width:.6}
        @media (max-width:40rem){main{padding:0 .6rem}.card{padding:.9rem}.hide-narrow{display:none}td,th{padding:.35rem .3rem}
        header.top{padding:.5rem .6rem}.metric .value{font-size:1.35rem}}
        @media (prefers-reduced-motion:reduce){tr.fresh td{animation:none}}
        """
}
