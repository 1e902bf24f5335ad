#!/usr/bin/env python3
"""A PyTorch reference for the pretraining demo's learning speed.

Trains Hugging Face BertForMaskedLM with the demo's recipe knobs (AdamW
β = (0.9, 0.98), ε = 1e-6, weight decay 0.01 without biases and LayerNorms,
clipping 1.0, warmup min(200, steps/10) then linear decay, no dropout) on
the demo's training text — its own tokenisation (BertTokenizerFast on the
run's vocab.txt), packing ([CLS] + 127 tokens, [SEP] between documents),
shuffle and 80/10/10 masking — and prints the held-out loss on the run's
hf_check.safetensors batches every tenth of the run. docs/pretraining.md
compares it with ours: no faster per step, so the slow start is BERT's.

  ~/.cache/autodidact/venv/bin/python tools/pretraining_torch_reference.py \
      C L H F B STEPS PEAK_LR SELECT RUN_DIR CORPUS_DIR
  e.g.  128 4 2 512 8 1092 2e-3 0.15 run ~/.cache/autodidact/corpus/pretraining

Slow: about 1,800 tokens/s on 2 cores (ours ran the same at 12,000).
"""
import random
import sys
import time

import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast
from safetensors.numpy import load_file
C,L,H,F,B,T,steps,lr = int(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]),int(sys.argv[5]),128,int(sys.argv[6]),float(sys.argv[7])
sel = float(sys.argv[8])
run, corpus = sys.argv[9], sys.argv[10]
torch.manual_seed(1); random.seed(1)
tok = BertTokenizerFast(f'{run}/vocab.txt', do_lower_case=True)
text = open(f'{corpus}/train.txt', encoding='utf-8').read()
docs = [d for d in text.split('\n\n') if d.strip()]
enc = tok(docs, add_special_tokens=False)['input_ids']
stream=[]
for e in enc: stream += e + [tok.sep_token_id]
W=[[tok.cls_token_id]+stream[i:i+T-1] for i in range(0,len(stream)-T,T-1)]
print(len(stream),'tokens',len(W),'windows',flush=True)
random.shuffle(W)
cfg=BertConfig(vocab_size=8192,hidden_size=C,num_hidden_layers=L,num_attention_heads=H,intermediate_size=F,max_position_embeddings=128,hidden_dropout_prob=0,attention_probs_dropout_prob=0,layer_norm_eps=1e-12)
m=BertForMaskedLM(cfg)
nd=['bias','LayerNorm.weight']
groups=[{'params':[p for n,p in m.named_parameters() if not any(x in n for x in nd)],'weight_decay':0.01},{'params':[p for n,p in m.named_parameters() if any(x in n for x in nd)],'weight_decay':0.0}]
opt=torch.optim.AdamW(groups,lr=lr,betas=(0.9,0.98),eps=1e-6)
warm=min(200,steps//10)
sch=torch.optim.lr_scheduler.LambdaLR(opt,lambda s: s/warm if s<warm else max(0.0,(steps-s)/(steps-warm)))
special={0,1,2,3,4}
d=load_file(f'{run}/hf_check.safetensors')
def evaluate():
  m.eval()
  with torch.no_grad():
    out=m(input_ids=torch.tensor(d['input_ids']),token_type_ids=torch.tensor(d['token_type_ids']),attention_mask=torch.tensor(d['attention_mask']),labels=torch.tensor(d['labels']))
  m.train(); return out.loss.item()
torch.set_num_threads(2)
t0=time.time(); wi=0
for s in range(steps):
  batch=torch.tensor(W[wi:wi+B]); wi=(wi+B)%(len(W)-B)
  labels=batch.clone(); inp=batch.clone()
  prob=torch.rand(batch.shape); elig=torch.ones_like(batch,dtype=torch.bool)
  for sp in special: elig&=batch!=sp
  selm=(prob<sel)&elig
  labels[~selm]=-100
  r=torch.rand(batch.shape)
  inp[selm&(r<0.8)]=4
  rnd=selm&(r>=0.8)&(r<0.9)
  inp[rnd]=torch.randint(5,8192,(int(rnd.sum()),))
  loss=m(input_ids=inp,token_type_ids=torch.zeros_like(inp),labels=labels).loss
  loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(),1.0); opt.step(); sch.step(); opt.zero_grad()
  if (s+1)%(steps//10)==0: print(s+1, round(loss.item(),4), 'heldout', round(evaluate(),4), round(time.time()-t0), 's', flush=True)
