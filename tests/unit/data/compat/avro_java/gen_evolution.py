# gen_evolution.py - families of evolving record schemas for the Avro Java cross-check.
# Prints "<family> <schema>" lines; corpus.jsonl lines 90-169 are the schemas of the first
# 80 lines: python3 gen_evolution.py | head -80 | cut -d" " -f2-
import json, random, copy
random.seed(11)
PRIMS=["int","long","float","double","string","bytes","boolean"]
def rand_type(depth=0):
    k=random.choice(["prim","prim","prim","opt","enum","fixed","array","map","rec","union"] if depth<2 else ["prim","opt"])
    if k=="prim": return random.choice(PRIMS)
    if k=="opt": return ["null", random.choice(PRIMS)]
    if k=="union": return random.sample(["null","int","string","long","bytes"], 3)
    if k=="enum": return {"type":"enum","name":"E%d"%random.randint(0,10**6),"symbols":["A","B","C"][:random.randint(1,3)]}
    if k=="fixed": return {"type":"fixed","name":"F%d"%random.randint(0,10**6),"size":random.choice([4,8,16])}
    if k=="array": return {"type":"array","items":rand_type(depth+1)}
    if k=="map": return {"type":"map","values":rand_type(depth+1)}
    if k=="rec":
        r={"type":"record","name":"N%d"%random.randint(0,10**6),"fields":[{"name":"x%d"%i,"type":rand_type(depth+1)} for i in range(random.randint(1,3))]}
        return r if random.random()<0.5 else ["null", r]
def dflt(t):
    if isinstance(t,list): return dflt(t[0])
    if isinstance(t,dict):
        tt=t["type"]
        if tt=="enum": return t["symbols"][0]
        if tt=="fixed": return "\u0000"*t["size"]
        if tt=="array": return []
        if tt=="map": return {}
        if tt=="record": return {f["name"]:dflt(f["type"]) for f in t["fields"]}
        return dflt(tt)
    return {"int":0,"long":0,"float":0.0,"double":0.0,"string":"","bytes":"","boolean":False,"null":None}[t]
PROMO={"int":["long","float","double"],"long":["float","double"],"float":["double"],"string":["bytes"],"bytes":["string"]}
def walk_types(t, fn):
    """apply fn to a random named/complex type inside t; returns new t"""
    return fn(t)
def mutate(s):
    s=copy.deepcopy(s); fs=s["fields"]
    m=random.choice(["add_def","add_nodef","remove","promote","narrow","optional","required","enum_add","enum_remove","enum_default","rename_rec_alias","rename_rec","rename_field_alias","rename_field","namespace","fixed_size","union_add","union_remove","nested_add_nodef","nested_add_def","nested_remove","reorder","array_items"])
    def find(pred):
        c=[f for f in fs if pred(f["type"])]
        return random.choice(c) if c else None
    if m=="add_def":
        t=rand_type(); fs.append({"name":"n%d"%random.randint(0,99),"type":t,"default":dflt(t)})
    elif m=="add_nodef":
        fs.append({"name":"n%d"%random.randint(0,99),"type":rand_type()})
    elif m=="remove" and len(fs)>1: fs.pop(random.randrange(len(fs)))
    elif m=="promote":
        f=find(lambda t: isinstance(t,str) and t in PROMO)
        if f: f["type"]=random.choice(PROMO[f["type"]]); f.pop("default",None)
    elif m=="narrow":
        f=find(lambda t: t in ("long","double","float"))
        if f: f["type"]={"long":"int","double":"float","float":"long"}[f["type"]]; f.pop("default",None)
    elif m=="optional":
        f=find(lambda t: isinstance(t,str))
        if f: f["type"]=["null",f["type"]]; f["default"]=None
    elif m=="required":
        f=find(lambda t: isinstance(t,list) and t[0]=="null" and len(t)==2 and isinstance(t[1],str))
        if f: f["type"]=f["type"][1]; f.pop("default",None)
    elif m in ("enum_add","enum_remove","enum_default"):
        f=find(lambda t: isinstance(t,dict) and t["type"]=="enum")
        if f:
            e=f["type"]
            if m=="enum_add": e["symbols"]=e["symbols"]+["Z%d"%random.randint(0,9)] if "Z" not in "".join(e["symbols"]) else e["symbols"]
            elif m=="enum_remove" and len(e["symbols"])>1: e["symbols"]=e["symbols"][:-1]; e.pop("default",None) if e.get("default") not in e["symbols"] else None
            else: e["default"]=e["symbols"][0]
            if "default" in f and f["default"] not in e["symbols"]: f["default"]=e["symbols"][0]
    elif m=="rename_rec_alias": s["aliases"]=[s["name"]]; s["name"]=s["name"]+"2"
    elif m=="rename_rec": s["name"]=s["name"]+"3"
    elif m=="rename_field_alias":
        f=random.choice(fs); f["aliases"]=[f["name"]]; f["name"]=f["name"]+"_r"
    elif m=="rename_field":
        f=random.choice(fs); f["name"]=f["name"]+"_q"
    elif m=="namespace": s["namespace"]="other"
    elif m=="fixed_size":
        f=find(lambda t: isinstance(t,dict) and t["type"]=="fixed")
        if f: f["type"]["size"]+=1; f.pop("default",None)
    elif m=="union_add":
        f=find(lambda t: isinstance(t,list))
        if f:
            for c in ["double","boolean","float"]:
                if c not in f["type"]: f["type"]=f["type"]+[c]; break
    elif m=="union_remove":
        f=find(lambda t: isinstance(t,list) and len(t)>2)
        if f: f["type"]=f["type"][:-1]
    elif m.startswith("nested"):
        def rec_of(t):
            if isinstance(t,dict) and t["type"]=="record": return t
            if isinstance(t,list):
                for b in t:
                    if isinstance(b,dict) and b["type"]=="record": return b
            if isinstance(t,dict) and t["type"] in("array","map"): return rec_of(t.get("items",t.get("values")))
            return None
        f=find(lambda t: rec_of(t) is not None)
        if f:
            r=rec_of(f["type"])
            if m=="nested_add_nodef": r["fields"].append({"name":"y","type":"int"})
            elif m=="nested_add_def": r["fields"].append({"name":"y","type":"int","default":1})
            elif len(r["fields"])>1: r["fields"].pop()
            if "default" in f: f["default"]=dflt(f["type"])
    elif m=="reorder": random.shuffle(fs)
    elif m=="array_items":
        f=find(lambda t: isinstance(t,dict) and t["type"]=="array" and isinstance(t["items"],str) and t["items"] in PROMO)
        if f: f["type"]["items"]=random.choice(PROMO[f["type"]["items"]]); f.pop("default",None)
    # dedupe field names
    seen=set(); nf=[]
    for f in fs:
        if f["name"] in seen: continue
        seen.add(f["name"]); nf.append(f)
    s["fields"]=nf
    return s
out=[]
for b in range(40):
    base={"type":"record","name":"R","namespace":"ns","fields":[]}
    for i in range(random.randint(2,6)):
        t=rand_type(); f={"name":"f%d"%i,"type":t}
        if random.random()<0.4: f["default"]=dflt(t)
        base["fields"].append(f)
    fam=[base]
    for k in range(7):
        fam.append(mutate(random.choice(fam)))
    for s in fam: out.append((b,s))
for b,s in out: print(b, json.dumps(s))
