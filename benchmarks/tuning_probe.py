"""A quick probe for tuning a method's short-schedule defaults on Fashion-MNIST (not a protocol).

    python benchmarks/tuning_probe.py METHOD "{params}" STEPS OPT LR WD [fixed]

Trains ``convnet-small`` for STEPS steps of 256 random images of the first 50,000 training images
(OPT sgd | adamw, cosine LR; ``fixed`` keeps the predictor's LR constant), then prints kNN
top-1 (k = 200, cosine, T = 0.1) of the backbone on 2,000 held-out training images against a
bank of 10,000, before and after, and saves benchmarks/results/tuning/probe_*.json.
"""
import json
from pathlib import Path
import math, sys, time, torch, torch.nn.functional as F
from ssrl.data import load_labeled
from ssrl.backbones import build_backbone
from ssrl.pretext import method_config, get_method
from ssrl.views import Views
name, params, steps, opt_name, lr, wd = sys.argv[1], eval(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
fixed_pred = len(sys.argv) > 7
src = load_labeled("fashion-mnist")[0]
X, Y = src.images, src.labels
torch.manual_seed(0)
cls = get_method(name)
m = cls(build_backbone("convnet-small", 1, 28, seed=0), method_config(name, params), Views(cls.default_views()))
pred = [p for n, p in m.named_parameters() if "predictor" in n] if fixed_pred else []
rest = [p for p in m.parameters() if p.requires_grad and all(p is not q for q in pred)]
groups = [{"params": rest, "sched": True}] + ([{"params": pred, "sched": False}] if pred else [])
opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=wd) if opt_name == "sgd" else torch.optim.AdamW(groups, lr=lr, weight_decay=wd)
def knn():
    m.eval()
    with torch.no_grad():
        f = lambda a: F.normalize(torch.cat([m.backbone(a[i:i+1000].float().div(255)) for i in range(0, len(a), 1000)]), dim=1)
        tr, te = f(X[:10000]), f(X[50000:52000])
        w, idx = (te @ tr.T).topk(200, dim=1)
        votes = torch.zeros(len(te), 10).scatter_add_(1, Y[:10000][idx], (w / 0.1).exp())
    m.train()
    return (votes.argmax(1) == Y[50000:52000]).float().mean().item()
init = knn()
print("init knn", init, flush=True)
t = time.time()
for s in range(steps):
    for g in opt.param_groups:
        g["lr"] = lr * (0.5 * (1 + math.cos(math.pi * s / steps)) if g["sched"] else 1.0)
    idx = torch.randint(0, 50000, (256,))
    loss, logs = m.loss(*m.pseudolabels(X[idx].float().div(255)))
    opt.zero_grad(); loss.backward(); opt.step()
    m.on_after_optimizer_step(s + 1, steps)
    if s % 50 == 49: print(s, round(loss.item(), 3), round(time.time() - t), flush=True)
after = knn()
print("knn", after, sys.argv[1:], flush=True)
out = Path(__file__).parent / "results" / "tuning" / f"probe_{name}_{steps}_{opt_name}_{lr:g}_{wd:g}{'_fixed' if fixed_pred else ''}.json"
out.write_text(json.dumps({"method": name, "params": params, "steps": steps, "optimizer": opt_name, "lr": lr,
                           "weight_decay": wd, "fixed_predictor_lr": fixed_pred, "knn_random_init": init, "knn": after}, indent=2))
