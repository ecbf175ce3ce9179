# gen_random.py - random record schemas for the Avro Java cross-check (lines 0-89 of
# corpus.jsonl): python3 gen_random.py > random.jsonl
import json, random
random.seed(7)
def enum(name, syms, default=None):
    e = {"type":"enum","name":name,"symbols":syms}
    if default: e["default"]=default
    return e
def ftype():
    k = random.choice(["prim","prim","union","enum","fixed","array","map","rec","dec","logical","union2"])
    if k=="prim": return random.choice(["int","long","float","double","string","bytes","boolean","null"])
    if k=="union": return ["null", random.choice(["int","long","string","bytes","double"])]
    if k=="union2": return random.sample(["null","int","long","string","bytes","double","boolean"], random.randint(2,3))
    if k=="enum":
        syms = random.sample(["A","B","C","D"], random.randint(1,4))
        d = random.choice([None, None, syms[0]])
        return enum(random.choice(["E","E","F"]), syms, d)
    if k=="fixed": return {"type":"fixed","name":random.choice(["X","X","Y"]),"size":random.choice([4,8])}
    if k=="array": return {"type":"array","items":random.choice(["int","long","string",["null","int"]])}
    if k=="map": return {"type":"map","values":random.choice(["int","double","bytes"])}
    if k=="dec": return {"type":"bytes","logicalType":"decimal","precision":random.choice([8,10]),"scale":random.choice([1,2])}
    if k=="logical": return random.choice([{"type":"long","logicalType":"timestamp-millis"},{"type":"long","logicalType":"timestamp-micros"},{"type":"int","logicalType":"date"}])
    if k=="rec":
        fs=[]
        for n in random.sample(["p","q","r"], random.randint(1,3)):
            t=random.choice(["int","long","string",["null","string"]])
            f={"name":n,"type":t}
            if random.random()<0.4: f["default"]= None if isinstance(t,list) else (0 if t in("int","long") else "")
            fs.append(f)
        r={"type":"record","name":random.choice(["N","N","M"]),"fields":fs}
        if random.random()<0.2: r["aliases"]=["N" if r["name"]=="M" else "M"]
        return r if random.random()<0.6 else ["null", r]
def default_for(t):
    if isinstance(t,list):
        return default_for(t[0])
    if isinstance(t,dict):
        tt=t["type"]
        if tt=="enum": return t["symbols"][0]
        if tt=="fixed": return "\u0000"*t["size"]
        if tt=="array": return []
        if tt=="map": return {}
        if tt=="record": return {f["name"]:default_for(f["type"]) for f in t["fields"]}
        return default_for(tt)
    return {"int":0,"long":0,"float":0.0,"double":0.0,"string":"","bytes":"","boolean":False,"null":None}[t]
out=[]
# a base pool of field specs per name so that pairs share names often
for i in range(90):
    fields=[]
    for n in random.sample(["a","b","c","d","e"], random.randint(1,4)):
        t=ftype()
        f={"name":n,"type":t}
        if random.random()<0.4: f["default"]=default_for(t)
        if random.random()<0.1: f["aliases"]=[random.choice(["a","b","c","d","e"])+"x"]
        fields.append(f)
    # dedupe named types: rename nested named ones per field to avoid redefinition
    seen=set()
    def fix(t, fi):
        if isinstance(t,list): return [fix(x,fi) for x in t]
        if isinstance(t,dict):
            if t["type"] in ("enum","fixed","record"):
                if t["name"] in seen:
                    t=dict(t); t["name"]=t["name"]+str(fi)
                seen.add(t["name"])
                if t["type"]=="record":
                    t=dict(t); t["fields"]=[dict(f,type=fix(f["type"],fi)) for f in t["fields"]]
            elif t["type"] in ("array",):
                t=dict(t); t["items"]=fix(t["items"],fi)
            return t
        return t
    for fi,f in enumerate(fields):
        f["type"]=fix(f["type"],fi)
    out.append({"type":"record","name":"R","namespace":random.choice(["ns1","ns1","ns2"]),"fields":fields})
for s in out: print(json.dumps(s))
