#!/usr/bin/python3
"""tests/readme_examples.py — runs the README's examples and compares their output
(`make check-readme`; not part of `make check`, which asserts the same
behaviour against hand-computed values: this checks that the README still shows it).

Every line `$ CMD` inside a ``` block of README.md is an example; the lines after it,
up to the next `$ ` or the end of the block, are its output (stdout and stderr together,
as a terminal shows them).  Each runs as `( CMD ) 2>&1` (a comment may end CMD) in a scratch folder holding
links to graphrun, models/, data/, tests/ and docs/, the four BLEU files that
docs/bleu.md writes, docs/curves/*.csv and a bad.csv, so the files the examples write
land there.

Compared as text, except: seconds (`0.24 s`) and tokens/s are masked; a line `...` in
the README stands for any number of lines; the `blas:` line's note in parentheses (how
the kernel was chosen) is masked.  The README's outputs come from OpenBLAS's SkylakeX
kernels (other kernels round differently), so on a CPU with AVX-512 every example runs
with OPENBLAS_CORETYPE=SkylakeX; elsewhere they run on graphrun's own choice and
perplexities may differ (in the last digits at first; lr 20's training amplifies it).

The mpirun example runs as the README shows it, with Open MPI's environment allowing
root, more processes than cores and no single-copy transport (as tests/test_dist.c runs
it).  attn_lm's run to convergence (55 epochs, about 30 s) runs too, and the
examples after it load what it saved.  Skipped, and named as such: `make` targets.
Exit status 1 if any example differs.
"""
import os, re, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = [(re.compile(p), why) for p, why in [
    (r'^make ', 'a make target'),
]]


def examples(path):
    """[(line number, command, [expected lines])] of the ``` blocks of path."""
    out, inside, cur = [], False, None
    lines = open(path).read().split('\n')
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith('```'):
            inside = not inside
            cur = None
        elif inside and line.startswith('$ '):
            cmd, start = line[2:], i + 1
            while cmd.endswith('\\') and i + 1 < len(lines):   # continued on the next line
                i += 1
                cmd = cmd[:-1].rstrip() + ' ' + lines[i].strip()
            cur = (start, cmd, [])
            out.append(cur)
        elif inside and cur is not None:
            cur[2].append(line)
        i += 1
    return out


def mask(line):
    line = re.sub(r'\b\d+(\.\d+)? s\b', '<s> s', line)
    line = re.sub(r'\b\d+ tok/s', '<n> tok/s', line)
    if line.startswith('blas: '):
        line = re.sub(r'\(.*\)', '(...)', line)
    return re.sub(r' +', ' ', line).rstrip()            # the masked numbers' widths


def matches(got, want):
    """Whether the lines got match want, where a want line '...' matches any run of lines."""
    if not want:
        return not got
    if want[0] == '...':
        return any(matches(got[k:], want[1:]) for k in range(len(got) + 1))
    return bool(got) and mask(got[0]) == mask(want[0]) and matches(got[1:], want[1:])


def avx512():
    try:
        flags = open('/proc/cpuinfo').read()
    except OSError:
        return False
    return all(re.search(r'\b%s\b' % f, flags) for f in ('avx512f', 'avx512bw', 'avx512vl', 'avx512dq'))


def main():
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1',
               OMPI_MCA_rmaps_base_oversubscribe='1', OMPI_MCA_btl_vader_single_copy_mechanism='none')
    if avx512():
        env['OPENBLAS_CORETYPE'] = 'SkylakeX'
    else:
        print('readme_examples: no AVX-512 here: running on graphrun\'s own kernel choice; '
              'perplexities may differ from the README\'s (SkylakeX ones)', file=sys.stderr)
    if not os.access(os.path.join(ROOT, 'graphrun'), os.X_OK):
        sys.exit('readme_examples: ./graphrun is missing: run make first')
    tmp = tempfile.mkdtemp(prefix='gr_readme.')
    try:
        for name in ('graphrun', 'models', 'data', 'tests', 'docs'):
            os.symlink(os.path.join(ROOT, name), os.path.join(tmp, name))
        for f in os.listdir(os.path.join(ROOT, 'docs', 'curves')):
            if f.endswith('.csv'):
                shutil.copy(os.path.join(ROOT, 'docs', 'curves', f), tmp)
        lm = open(os.path.join(ROOT, 'docs', 'curves', 'lm.csv')).read().split('\n')
        open(os.path.join(tmp, 'bad.csv'), 'w').write('\n'.join(lm[:2]) + '\n2,abc,100.44,20,0.25,62433\n')
        for _, cmd, _ in examples(os.path.join(ROOT, 'docs', 'bleu.md')):   # hyp.txt, ref1-3.txt
            if re.match(r"printf .*> (hyp|ref\d)\.txt$", cmd):
                subprocess.run(['sh', '-c', cmd], cwd=tmp, env=env, check=True)
        env['PATH'] = tmp + os.pathsep + env.get('PATH', '')              # `graphrun` alone, as docs write it
        same = differ = skipped = 0
        for line, cmd, want in examples(os.path.join(ROOT, 'README.md')):
            why = next((w for p, w in SKIP if p.search(cmd)), None)
            if why:
                print(f'README.md:{line}: skipped ({why}): {cmd}')
                skipped += 1
                continue
            r = subprocess.run(['sh', '-c', f'( {cmd}\n) 2>&1'], cwd=tmp, env=env, capture_output=True, text=True)
            got = r.stdout.split('\n')
            if got and got[-1] == '':
                got.pop()
            while want and want[-1] == '':
                want = want[:-1]
            if matches(got, want):
                same += 1
                continue
            differ += 1
            print(f'README.md:{line}: differs: {cmd}\n  README:')
            print('\n'.join('    ' + w for w in want))
            print('  now:')
            print('\n'.join('    ' + g for g in got))
        print(f'{same} examples match, {differ} differ, {skipped} skipped')
        return 1 if differ else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
