"""The pages' stylesheet (inline in each page: one request, works offline). Text colours keep a
contrast of at least 4.5:1 on their background (WCAG AA)."""

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2430;
background:#f5f6f8}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:6px 10px;z-index:10}
.skip:focus{left:8px}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
header{display:flex;align-items:center;gap:20px;padding:8px 24px;background:#1f2430;color:#fff;flex-wrap:wrap;
position:sticky;top:0;z-index:5}
header a{color:#d5dbe6;text-decoration:none}
header a:hover,header a[aria-current]{color:#fff;text-decoration:underline}
.brand{font-weight:700;color:#fff!important;font-size:16px;text-decoration:none!important}
.brand span{font-weight:400;color:#b4bdcc}
nav{display:flex;gap:16px}
.quick-search input{width:220px;padding:4px 8px;border:1px solid #4a5264;border-radius:6px;background:#2b3140;
color:#fff;font:inherit}
.quick-search input::placeholder{color:#b4bdcc}
.live-control{margin-left:auto;display:flex;gap:10px;align-items:center;font-size:12px}
.live-state{color:#8fe0a9}
.live-state.paused{color:#ffd27a}
.live-control button{font:inherit;font-size:12px;padding:2px 10px;border-radius:6px;border:1px solid #6b7385;
background:transparent;color:#fff;cursor:pointer}
main{max-width:1180px;margin:0 auto;padding:16px 24px 40px}
h1{font-size:22px;margin:8px 0 14px}
h2{font-size:16px;margin:0 0 8px}
small{color:#5b6475;font-weight:400}
a{color:#1f5fc9}
:focus-visible{outline:2px solid #1f5fc9;outline-offset:2px}
.id{font-family:ui-monospace,Menlo,monospace;font-size:.9em}
.sub{color:#5b6475;font-size:12px}
.table-wrap{overflow-x:auto;background:#fff;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
table{width:100%;border-collapse:collapse;background:#fff}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#fafbfc;font-weight:600;color:#4a5264;font-size:12px;text-transform:uppercase;
letter-spacing:.03em;
white-space:nowrap}
th a{color:inherit;text-decoration:none}
th a:hover{text-decoration:underline}
tr:last-child td{border-bottom:0}
tbody tr:hover{background:#f6f9ff}
.num{text-align:right;font-variant-numeric:tabular-nums}
.ts,.nowrap{white-space:nowrap}
.preview{display:block;color:#4a5264;font-size:12px;max-width:460px;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.filters{display:flex;gap:10px 14px;align-items:flex-end;margin:0 0 14px;flex-wrap:wrap;background:#fff;
padding:10px 14px;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.filters label{display:flex;flex-direction:column;font-size:12px;color:#4a5264;gap:2px}
.filters input,.filters select{padding:5px 8px;border:1px solid #b9c0cc;border-radius:6px;font:inherit;
color:#1f2430;background:#fff;min-width:0}
.filters input[name=text],.filters input[name=q]{width:220px}
.filters button{padding:6px 16px;border:0;border-radius:6px;background:#1f5fc9;color:#fff;font:inherit;
cursor:pointer}
.filters .clear{align-self:center}
.summary-line{margin:0 0 8px;color:#4a5264}
.pager{display:flex;gap:16px;margin:12px 0;align-items:center}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;white-space:nowrap}
.status.live{background:#dff5e6;color:#125c2e}
.status.idle{background:#fff3d6;color:#6e4800}
.status.closed{background:#eceef2;color:#4a5264}
.conflict{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#fde2e2;
color:#8a1c1c;
white-space:nowrap}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;padding:14px 18px;
border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.06);margin:0 0 18px}
.meta dt{color:#4a5264}
.meta dd{margin:0}
.transcript{list-style:none;padding:0;margin:0;display:flex;flex-direction:column;gap:10px}
.message{max-width:78%;padding:10px 14px;border-radius:12px;background:#fff;
box-shadow:0 1px 2px rgba(0,0,0,.07);
scroll-margin-top:80px}
.message.user{align-self:flex-end;background:#e3edff}
.message.assistant{align-self:flex-start}
.message:target{outline:3px solid #f0b400;outline-offset:2px}
.message.has-conflict{border-left:4px solid #c62828}
.message .head{font-size:12px;color:#4a5264;margin-bottom:4px}
.message .head a{color:#4a5264;text-decoration:none}
.message .role{font-weight:600;text-transform:capitalize;color:#1f2430}
.content{white-space:pre-wrap;overflow-wrap:anywhere}
.extras{margin-top:6px;display:flex;gap:6px;flex-wrap:wrap}
.props{display:inline-flex;gap:6px;flex-wrap:wrap}
.prop{font-size:12px;background:#f0f2f5;border-radius:4px;padding:0 6px;
font-family:ui-monospace,Menlo,monospace}
.feedback{font-size:12px;border-radius:10px;padding:1px 8px;margin-right:4px;white-space:nowrap}
.feedback.thumbs_up{background:#dff5e6;color:#125c2e}
.feedback.thumbs_down{background:#fde2e2;color:#8a1c1c}
.versions{margin-top:8px;font-size:13px}
.versions blockquote{margin:4px 0;padding:6px 10px;background:#fff5f5;border-left:3px solid #c62828;
white-space:pre-wrap;overflow-wrap:anywhere}
.empty{color:#4a5264;background:#fff;padding:16px;border-radius:8px}
.crumbs{margin:0;color:#5b6475}
.crumbs a{text-decoration:none}
code{background:#eceef2;padding:1px 5px;border-radius:4px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:0 0 16px}
.tile{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06);
text-decoration:none;
color:inherit;display:block}
.tile .label{font-size:12px;color:#4a5264;text-transform:uppercase;letter-spacing:.03em}
.tile .value{font-size:24px;font-weight:650;font-variant-numeric:tabular-nums}
.tile .note{font-size:12px;color:#4a5264}
.tile.warn .value{color:#a11f1f}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:14px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06);min-width:0}
.card svg{display:block;width:100%;height:auto}
.card h2{margin:0}
.card .sub{margin:0 0 6px}
.card details{font-size:12px;margin-top:4px}
.card details table{font-size:12px}
.card td,.card th{padding:3px 8px}
.bar-cell{width:40%}
.bar{height:10px;background:#3b7be0;border-radius:3px;min-width:2px}
.ratio{display:flex;height:18px;border-radius:9px;overflow:hidden;background:#eceef2;margin:6px 0}
.ratio .up{background:#2e9d57}
.ratio .down{background:#d64545}
.legend{display:flex;gap:14px;font-size:12px;color:#4a5264;flex-wrap:wrap}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.hits{list-style:none;padding:0;margin:0;display:flex;flex-direction:column;gap:8px}
.hit{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.hit .snippet{margin:4px 0 0;white-space:pre-wrap;overflow-wrap:anywhere}
mark{background:#ffe58a;color:inherit;padding:0 1px;border-radius:2px}
@media (max-width:760px){
header{padding:8px 12px;gap:10px;position:static}
.message{scroll-margin-top:12px}
.quick-search input{width:150px}
main{padding:12px}
.charts{grid-template-columns:minmax(0,1fr)}
.wide-only{display:none}
.message{max-width:94%}
.preview{max-width:240px}
.filters input[name=text],.filters input[name=q]{width:100%}
.filters label{flex:1 1 140px}
}
"""
